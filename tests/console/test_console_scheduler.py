"""The refresh scheduler and the model as plain data: no Textual, no screen."""

from __future__ import annotations

import subprocess
import sys

from conductor.console.model import NodeRef, RootModel
from conductor.console.scheduler import Following, RefreshScheduler
from conductor.console.status import ProjectView, TaskView
from conductor.watch.events import WatchEvent

LOG = "/r/p/t1/runs/r1/agent-stdout.txt"
BUS = "/r/p/t1/TASK-MESSAGE-BUS.md"


def ready(project_filter=None) -> RefreshScheduler:
    sched = RefreshScheduler(project_filter)
    sched.ready()
    return sched


def test_the_console_core_imports_no_textual():
    code = ("import sys, conductor.console.model, conductor.console.scheduler, "
            "conductor.console.controller; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_is_read_before_the_first_full_read():
    sched = RefreshScheduler()
    sched.mark("p", "t1")
    assert sched.take() == []
    sched.ready()
    assert sched.take() == [("p", "t1")]


def test_marks_coalesce_into_one_sorted_read_of_each_task():
    sched = ready()
    for project, task in (("p", "t2"), ("a", "t9"), ("p", "t1"), ("p", "t2"), ("p", "t1")):
        sched.mark(project, task)
    assert sched.take() == [("a", "t9"), ("p", "t1"), ("p", "t2")]
    assert sched.take() == []  # nothing left, and a read is under way


def test_a_burst_during_a_read_waits_for_it_then_is_one_read():
    sched = ready()
    sched.mark("p", "t1")
    assert sched.take() == [("p", "t1")]
    for _ in range(500):  # a log written many times a second while the first read runs
        sched.mark("p", "t1")
        sched.mark("p", "t2")
        assert sched.take() == []
    assert sched.pending == {("p", "t1"), ("p", "t2")}
    sched.finished()
    assert sched.take() == [("p", "t1"), ("p", "t2")]
    sched.finished()
    assert sched.take() == []


def test_marks_without_a_task_or_outside_the_project_filter_ask_for_nothing():
    sched = ready("p")
    sched.mark("p", "")
    sched.mark("", "t1")
    sched.mark("other", "t1")
    sched.mark_all([("p", "t3"), ("q", "t4")])
    assert sched.take() == [("p", "t3")]


def test_routing_each_kind_of_event():
    sched = ready()
    follow = Following(logs=frozenset({LOG}), bus=BUS, bus_project="p", bus_task="t1",
                       selected_run="r1")
    plan = sched.route([
        WatchEvent("run_changed", "p", "t1", "r1"),
        WatchEvent("task_changed", "p", "t2"),
        WatchEvent("log_grew", "p", "t1", "r1", LOG, "agent-stdout.txt"),
        WatchEvent("log_grew", "p", "t1", "r1", LOG, "agent-stdout.txt"),
        WatchEvent("log_grew", "p", "t3", "r3", "/r/p/t3/runs/r3/agent-stdout.txt",
                   "agent-stdout.txt"),
        WatchEvent("bus_grew", "p", "t1", "", BUS, "TASK-MESSAGE-BUS.md"),
    ], follow)
    assert plan.logs == [LOG]  # the followed file, read once for the batch
    assert plan.outputs == [("p", "t1", "r1"), ("p", "t3", "r3")]  # heartbeats
    assert plan.bus and not plan.rescan
    assert sched.take() == [("p", "t1"), ("p", "t2")]  # a log growing re-reads no task


def test_output_md_of_the_selected_run_rereads_its_task_and_others_do_not():
    sched = ready()
    follow = Following(selected_run="r1")
    sched.route([WatchEvent("log_grew", "p", "t1", "r1", "/x/output.md", "output.md"),
                 WatchEvent("log_grew", "p", "t2", "r2", "/y/output.md", "output.md")], follow)
    assert sched.take() == [("p", "t1")]


def test_a_bus_is_followed_by_its_path_or_by_its_scope():
    follow_task = Following(bus=BUS, bus_project="p", bus_task="t1")
    follow_project = Following(bus="/r/p/PROJECT-MESSAGE-BUS.md", bus_project="p")
    other_spelling = WatchEvent("bus_grew", "p", "t1", "", "/link/p/t1/TASK-MESSAGE-BUS.md",
                                "TASK-MESSAGE-BUS.md")
    other_task = WatchEvent("bus_grew", "p", "t2", "", "/r/p/t2/TASK-MESSAGE-BUS.md",
                            "TASK-MESSAGE-BUS.md")
    project_bus = WatchEvent("bus_grew", "p", "", "", "/r/p/PROJECT-MESSAGE-BUS.md",
                             "PROJECT-MESSAGE-BUS.md")
    assert follow_task.follows_bus(other_spelling)
    assert not follow_task.follows_bus(other_task)
    assert not follow_task.follows_bus(project_bus)
    assert follow_project.follows_bus(project_bus)
    assert not Following().follows_bus(project_bus)
    sched = ready()
    assert not sched.route([other_task], follow_task).bus
    assert sched.take() == [("p", "t2")]  # a task's bus grew: its status may change


def test_rescan_and_project_events_ask_for_a_full_read():
    sched = ready()
    assert sched.route([WatchEvent("rescan")], Following()).rescan
    assert sched.route([WatchEvent("project_changed", "p")], Following()).rescan
    assert sched.take() == []


def task(project: str, tid: str, status: str = "running") -> TaskView:
    return TaskView(project=project, task=tid, path=f"/r/{project}/{tid}", status=status,
                    runs=[])


def test_node_ref_key_is_the_one_name_of_a_node():
    assert NodeRef.of_project("p").key == ("project", "p", "", "")
    assert NodeRef.of_task("p", "t").key == ("task", "p", "t", "")
    assert NodeRef.of_run("p", "t", "r").key == ("run", "p", "t", "r")
    assert NodeRef.of_run("p", "t", "r").task_ref == NodeRef.of_task("p", "t")
    assert NodeRef.of_run("p", "t", "r").same_task("p", "t")
    assert not NodeRef.of_project("p").same_task("p", "")


def test_the_model_reports_what_a_full_read_changed():
    model = RootModel()
    first = model.replace([ProjectView("p", "/r/p", [task("p", "t2"), task("p", "t1")])])
    assert first.first and model.loaded
    assert [t.task for t in model.projects["p"].tasks] == ["t1", "t2"]
    old_t1 = model.task("p", "t1")
    again = model.replace([ProjectView("p", "/r/p", [task("p", "t1", "completed")]),
                           ProjectView("q", "/r/q", [task("q", "t9")])])
    assert not again.first
    assert again.gone_tasks == [("p", "t2")] and again.new_projects == ["q"]
    assert again.old[("p", "t1")] is old_t1
    assert model.statuses() == {("p", "t1"): "completed", ("q", "t9"): "running"}
    gone = model.replace([ProjectView("q", "/r/q", [task("q", "t9")])])
    assert gone.gone_projects == ["p"]


def test_the_model_takes_one_task_and_resolves_refs():
    model = RootModel()
    model.replace([ProjectView("p", "/r/p", [task("p", "t1")])])
    read = model.update_task(task("p", "t0", "failed"))
    assert read.old is None and not read.new_project
    assert [t.task for t in model.projects["p"].tasks] == ["t0", "t1"]
    read = model.update_task(task("new", "t5"))
    assert read.new_project and list(model.projects) == ["new", "p"]
    again = model.update_task(task("p", "t1", "completed"))
    assert again.old.status == "running"
    picked = model.resolve(NodeRef.of_task("p", "t1"))
    assert picked.project.id == "p" and picked.task.status == "completed" and picked.run is None
    assert model.resolve(None).task is None
    assert model.resolve(NodeRef.of_task("p", "nope")).task is None
    assert model.counts() == {"running": 1, "failed": 1, "completed": 1}
    assert model.live_tasks() == [("new", "t5")]
    assert model.remove_task("p", "t0").status == "failed"
    assert model.task("p", "t0") is None
