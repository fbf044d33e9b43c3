#!/usr/bin/env python3
"""A stand-in for Slurm's sbatch, squeue, scancel, scontrol and sacct, answering in the exact
shapes Slurm 22.05 prints (taken from Debian's slurm-client 22.05.8 on a one-node cluster).

Installed under each command's name in a directory put first on PATH. Its state is a JSON file
($SLURM_STUB_STATE): ``jobs`` {id: {state, node, reason, exit}}, ``next`` (the next job id),
``fail`` {command: [exit code, stderr]}, ``accounting`` (sacct answers), ``on_term``/``on_kill``
(the state a signal puts a job in; "" leaves it), and ``calls``: every call's argv, in order.
A job also has ``comment`` (sbatch's --comment; Slurm shows "(null)" for none) and ``uid`` (the
submitting user); squeue prints whatever ``--format`` asks of %i %T %N %r %U %k, as Slurm does.
"""

import fcntl
import json
import os
import sys

STATE = os.environ["SLURM_STUB_STATE"]


def main() -> int:
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    gate = f"{STATE}.{name}-gate"
    while os.path.exists(gate):  # the test holds this command here (a slow slurmctld)
        import time
        time.sleep(0.01)
    with open(STATE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(STATE) as f:
            state = json.load(f)
        entry = {"argv": [name, *args]}
        if name == "sbatch":
            entry["script"] = sys.stdin.read()
            entry["env"] = {k: v for k, v in os.environ.items()
                            if k.endswith(("_KEY", "_TOKEN")) or k in ("HTTPS_PROXY", "CONDUCTOR_EXECUTOR")}
        state["calls"].append(entry)
        code, out, err = answer(name, args, state)
        with open(STATE, "w") as f:
            json.dump(state, f)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


def flag(args, name):
    for arg in args:
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _launch(job, args, script):
    import subprocess
    base = os.path.dirname(STATE)
    path = os.path.join(base, f"job{job}.sh")
    with open(path, "w") as f:
        f.write(script)
    out = open(flag(args, "--output"), "ab")
    err = open(flag(args, "--error"), "ab")
    exit_file = os.path.join(base, f"job{job}.exit")
    proc = subprocess.Popen(["sh", "-c", f'sh {path}; echo $? > {exit_file}'],
                            cwd=flag(args, "--chdir"), stdin=subprocess.DEVNULL, stdout=out,
                            stderr=err, start_new_session=True)
    return {"state": "RUNNING", "node": "stubnode", "pid": proc.pid, "exit_file": exit_file}


def _refresh(job):
    if not job.get("pid") or job["state"] != "RUNNING":
        return
    try:
        with open(f"/proc/{job['pid']}/stat") as f:
            alive = f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        alive = False
    if alive:
        return
    try:
        with open(job["exit_file"]) as f:
            code = int(f.read().strip() or 0)
    except (OSError, ValueError):
        code = 0
    if job.get("cancelled"):
        job.update(state="CANCELLED", exit="0:15")
        return
    job.update(state="COMPLETED" if code == 0 else "FAILED", exit=f"{code}:0",
               reason="None" if code == 0 else "NonZeroExitCode")


def _row(fmt, job_id, job):
    import re
    fields = {"i": job_id, "T": job["state"], "N": job["node"], "r": job["reason"],
              "U": str(job.get("uid", os.getuid())), "k": job.get("comment") or "(null)"}
    return re.sub(r"%(\w)", lambda m: fields[m.group(1)], fmt)


def answer(name, args, state):
    failing = state["fail"].get(name)
    if failing:
        return failing[0], "", failing[1]
    jobs = state["jobs"]
    if name == "sbatch":
        job = str(state["next"])
        state["next"] += 1
        jobs[job] = {"state": "PENDING", "node": "", "reason": "None", "exit": "0:0",
                     "comment": flag(args, "--comment") or "(null)", "uid": os.getuid()}
        secrets = os.path.join(os.path.dirname(flag(args, "--output")), "run-secrets.json")
        if os.path.exists(secrets):
            state["calls"][-1]["secrets_mode"] = oct(os.stat(secrets).st_mode & 0o777)
        if state.get("run"):  # play the node: run the batch script as slurmd would
            jobs[job].update(_launch(job, args, state["calls"][-1]["script"]))
        return 0, job + "\n", ""
    if name == "squeue":
        for j in jobs.values():
            _refresh(j)
        if "--me" in args:  # every job of ours
            wanted = list(jobs)
            if not wanted:
                return 0, "", ""
        else:
            wanted = flag(args, "--jobs").split(",")
        known = [j for j in wanted if j in jobs]
        if not known:
            return 1, "", "slurm_load_jobs error: Invalid job id specified\n"
        return 0, "".join(_row(flag(args, "--format"), j, jobs[j]) + "\n"
                          for j in sorted(known, key=int)), ""
    if name == "scancel":
        job = args[-1]
        sig = flag(args, "--signal")
        if job in jobs and jobs[job].get("pid") and jobs[job]["state"] == "RUNNING":
            import signal
            try:
                os.killpg(jobs[job]["pid"], signal.SIGKILL if sig == "KILL" else signal.SIGTERM)
            except OSError:
                pass
            jobs[job]["cancelled"] = True
            return 0, "", ""
        if job in jobs and jobs[job]["state"] == "PENDING":
            if sig:  # Slurm 22.05 signals no pending job
                return 228, "", (f"scancel: error: Kill job error on job id {job}: Job can "
                                 "not be altered now, try again later\n")
            jobs[job].update(state="CANCELLED", exit="0:0")
            return 0, "", ""
        if job in jobs and jobs[job]["state"] == "RUNNING":
            to = state["on_kill" if sig == "KILL" else "on_term"]
            if to:
                jobs[job].update(state=to, exit="0:15" if sig != "KILL" else "0:9")
        return 0, "", ""
    if name == "scontrol":
        if args[:2] == ["show", "config"]:
            return 0, ("Configuration data as of 2026-11-30T19:54:10\n"
                       "AccountingStorageBackupHost = (null)\n"
                       "ClusterName             = stubcluster\n"
                       "CompleteWait            = 0 sec\n"), ""
        job = args[-1]
        if job not in jobs:
            return 1, "", "slurm_load_jobs error: Invalid job id specified\n"
        j = jobs[job]
        return 0, (f"JobId={job} JobName=conductor:p/t UserId=root(0) GroupId=root(0) "
                   f"MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) "
                   f"JobState={j['state']} Reason={j['reason']} Dependency=(null) Requeue=0 "
                   f"Restarts=0 BatchFlag=1 Reboot=0 ExitCode={j['exit']} RunTime=00:00:03 "
                   f"NodeList={j['node']} BatchHost={j['node']} NumNodes=1 NumCPUs=1 "
                   f"Comment=conductor project=p task=t run=r  StdErr=/tmp/e StdIn=/dev/null "
                   f"StdOut=/tmp/o Power= \n"), ""
    if name == "sacct":
        rows = state.get("accounting")
        if rows is None:
            return 1, "", "Slurm accounting storage is disabled\n"
        wanted = flag(args, "--jobs").split(",")
        return 0, "".join(f"{r}\n" for r in rows if r.split("|")[0] in wanted), ""
    return 2, "", f"{name}: not stubbed\n"


if __name__ == "__main__":
    sys.exit(main())
