"""The agent of fake_backend.py: attempt N does what line N of $FAKE_PLAN says (the last line
repeats). A line is a JSON list of actions:

    ["session", "s-1"]  ["usage", in, out, cost]  ["answer", "text"]  ["fail", kind, message]
    ["limit", seconds_from_now, message]  ["done"]  ["question", "text"]  ["wait-file", path]
    ["tick-forever"]    ["exit", code]    ["stderr-ticks", count, seconds]

Each attempt's argv is appended to $FAKE_PLAN.argv (one JSON list per line)."""

import json
import os
import subprocess
import sys
import time

plan_path = os.environ["FAKE_PLAN"]
with open(plan_path + ".argv", "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
sys.stdin.read()
plans = [json.loads(line) for line in open(plan_path) if line.strip()]
count_path = plan_path + ".count"
n = int(open(count_path).read()) if os.path.exists(count_path) else 0
open(count_path, "w").write(str(n + 1))
code = 0


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


for action in plans[min(n, len(plans) - 1)]:
    verb, args = action[0], action[1:]
    if verb == "session":
        emit({"session": args[0]})
    elif verb == "usage":
        emit({"usage": {"in": args[0], "out": args[1], "cost": args[2]}})
    elif verb == "answer":
        emit({"answer": args[0]})
    elif verb == "fail":
        emit({"fail": args[0], "message": args[1]})
        code = 1
    elif verb == "limit":
        emit({"fail": "limit", "message": args[1], "reset_at": time.time() + args[0]})
        code = 1
    elif verb == "done":
        open(os.path.join(os.environ["JRUN_TASK_FOLDER"], "DONE"), "w").close()
    elif verb == "question":
        subprocess.run([sys.executable, "-m", "conductor", "bus", "post", "--type", "QUESTION",
                        "--body", args[0]], check=True)
    elif verb == "wait-file":
        while not os.path.exists(args[0]):
            time.sleep(0.02)
    elif verb == "tick-forever":
        while True:
            emit({"tick": 1})
            time.sleep(0.05)
    elif verb == "stderr-ticks":  # only stderr grows (gemini's silent retries)
        for _ in range(args[0]):
            sys.stderr.write("Attempt failed. Retrying with backoff...\n")
            sys.stderr.flush()
            time.sleep(args[1])
    elif verb == "exit":
        code = args[0]
sys.exit(code)
