import os

from conductor.bus import MessageBus
from conductor.ids import run_sort_key
from conductor.store import read_run_info
from waiting import wait_for  # noqa: F401  (the runner tests import it from here)

PROJECT = "proj"
TASK = "task-20260220-153045-stubbed"


def task_dir(root, task=TASK):
    return os.path.join(root, PROJECT, task)


def runs(root, task=TASK):
    d = os.path.join(task_dir(root, task), "runs")
    if not os.path.isdir(d):
        return []
    infos = [read_run_info(os.path.join(d, name, "run-info.yaml")) for name in os.listdir(d)
             if os.path.exists(os.path.join(d, name, "run-info.yaml"))]
    return sorted(infos, key=lambda i: run_sort_key(i.start_time, i.run_id))


def bus(root, task=TASK):
    return MessageBus(os.path.join(task_dir(root, task), "TASK-MESSAGE-BUS.md")).read_all()


