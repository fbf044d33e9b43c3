"""A backend for loop-policy tests, registered under the type ``fake`` by the tests that use it.

Its agent is ``fake_agent.py`` (run as the config's ``command``); the agent prints JSON lines
that this backend reads back as a real backend reads its CLI's stream:

    {"session": "s-1"}                       the agent's session id
    {"usage": {"in": 10, "out": 5, "cost": 0.25}}  usage so far (summed by watch and outcome)
    {"answer": "TEXT"}                        the answer (output.md)
    {"fail": "auth", "message": "...", "reset_at": 1.5e9}   a failure of that kind

``--resume <id>`` is added to argv when the loop resumes a session, so tests can see it.
"""

from __future__ import annotations

import json

from conductor.agents.backend import Backend, Failure, Launch, Outcome, StreamWatch, Verdict
from conductor.agents.backend import iter_events
from conductor.store.usage import Usage


def _usage(event) -> Usage:
    u = event.get("usage") or {}
    return Usage(input_tokens=u.get("in", 0), output_tokens=u.get("out", 0),
                 cost_usd=u.get("cost"))


class _Watch(StreamWatch):
    def feed(self, event):
        if "session" in event:
            self.session_id = event["session"]
        if "usage" in event:
            self.usage = self.usage + _usage(event)
        if event.get("fail") == "now":
            return Verdict(True, Failure("agent", event.get("message", "")))
        return Verdict(progress="tick" not in event)


class FakeBackend(Backend):
    type = "fake"
    needs_command = True
    json_stream = True

    def argv(self, launch: Launch) -> list[str]:
        argv = super().argv(launch)
        return argv + (["--resume", launch.resume] if launch.resume else [])

    def watch(self):
        return _Watch()

    def outcome(self, stdout_path, stderr_path, exit_code):
        out = Outcome()
        for event in iter_events(stdout_path):
            if "session" in event:
                out.session_id = event["session"]
            if "usage" in event:
                out.usage = out.usage + _usage(event)
            if "answer" in event:
                out.answer = event["answer"]
            if "fail" in event and event["fail"] != "now":
                out.failure = Failure(event["fail"], event.get("message", ""),
                                      event.get("reset_at"))
        return out


BACKEND = FakeBackend()

if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({}))
