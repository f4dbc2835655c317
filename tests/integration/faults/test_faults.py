"""Fault injection on the real services while the real agent streams footage.

Each test deploys the cloud as deployed (ingest server, Celery worker and beat, MQTT bridge on
PostgreSQL, S3 (SeaweedFS), Redis, Weaviate and Mosquitto), enrols a device with its own broker
account and token, and runs `python -m edge run` on twenty seconds of vtest.avi (200 frames)
played in real time, so that each fault lands at a known frame while the agent streams. Then it
checks by id that every crop, event and track summary the agent spooled (its DEBUG log says
which) is stored exactly once in every store, except the losses the device counted, which its
own files and its heartbeat must both report. Each test prints the figures it saw.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from tests.edge.transport.tcp_proxy import TcpProxy
from tests.integration.faults.harness import (
    ALL,
    Deployment,
    JournalState,
    Losses,
    PrivateBroker,
    device_row,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


def report(capsys: pytest.CaptureFixture[str], scenario: str, **figures: object) -> None:
    """Print the figures a scenario saw, beside pytest's progress."""
    line = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in figures.items())
    with capsys.disabled():
        print(f"\n{scenario}: {line}")


def test_broker_and_ingest_server_down_mid_stream_lose_nothing(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, stores = deployment.cloud, deployment.stores
    # The shared broker must keep running: the agent reaches it through a proxy, whose stop is
    # a broker that is down (connections cut, new ones refused).
    with TcpProxy((deployment.broker.host, deployment.broker.port)) as proxy:
        agent = deployment.start(*ALL, mqtt_port=proxy.port)
        agent.at_frame(50)
        assert stores.crops() > 0
        assert stores.heartbeat() is not None

        proxy.stop()
        cloud.stop("ingest")
        spooled_before = len(agent.produced().crops)
        agent.at_frame(130)  # 8 s of footage with neither
        spooled_during = len(agent.produced().crops) - spooled_before
        proxy.start()
        cloud.start("ingest")

        end = deployment.finish(agent)

    assert spooled_during > 0
    assert end.losses == Losses()  # nothing lost, nor counted as lost
    assert end.summary["crops_sent"] == end.summary["crops_queued"] == len(end.produced.crops)
    # The device came back under a new session, which its heartbeats name.
    sessions = agent.sessions()
    assert len(sessions) == 2
    assert end.heartbeat.session_seq == sessions[-1]
    report(
        capsys,
        "(a) broker + ingest down from frame 50 to 130",
        crops=len(end.produced.crops),
        spooled_during_outage=spooled_during,
        stored=len(end.stored.detections),
        summaries=len(end.produced.summaries),
        tracks=len(end.stored.tracks),
        sessions=len(sessions),
    )


def test_agent_killed_mid_stream_resumes_the_file_and_reports_the_tracks_it_cut_short(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    stores = deployment.stores
    agent = deployment.start(*ALL)
    agent.at_frame(100)

    agent.kill()
    first_run = agent.produced()
    journal = JournalState.read(agent.outbox)
    agent.start()  # same config: same outbox, same journal

    end = deployment.finish(agent)

    cut_short = len(journal.tracks_in_progress)
    assert cut_short > 0
    assert journal.position is not None
    # The file resumes after the last frame whose records were handed on, not from the start.
    _, resumed = agent.messages(r"reading from frame (\d+)")
    assert int(resumed[1]) == journal.position + 1
    # Each track cut short got its final summary at the restart, and one event counts them,
    # as do the run summary and the device's counters, reported in its heartbeat.
    restart = end.produced.summaries[len(first_run.summaries) :]
    assert journal.tracks_in_progress <= {s.track_id for s in restart if s.ended}
    assert stores.event_attributes("tracks.interrupted") == [
        {"count": str(cut_short), "camera": "lobby"}
    ]
    assert end.summary["tracks_interrupted"] == cut_short
    assert end.losses == Losses(tracks_interrupted=cut_short)
    lost, cells = device_row(deployment.cloud.devices_page(), deployment.enrolment.device_id)
    assert lost
    assert cells["Interrupted tracks"] == str(cut_short)
    assert len(agent.sessions()) == 2
    report(
        capsys,
        "(b) agent kill -9 at frame 100",
        crops=len(end.produced.crops),
        by_the_killed_run=len(first_run.crops),
        stored=len(end.stored.detections),
        tracks=len(end.stored.tracks),
        cut_short=cut_short,
        resumed_at_frame=resumed[1],
        events=len(end.produced.events),
    )


def test_worker_killed_mid_batch_every_crop_still_gets_its_vector(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, stores = deployment.cloud, deployment.stores
    agent = deployment.start(*ALL)
    # A warm worker (model loaded, crops embedded), then kill it while an embed run is under
    # way (runs are counted on their rows before they start). A run may end between the look
    # and the kill: then a new worker, and look again.
    wait_for(lambda: stores.embedded() >= 5, "five crops with their vector", timeout_s=60)
    for _ in range(3):
        wait_for(stores.embed_runs_unfinished, "an embed run under way", 60, poll_s=0.01)
        cloud.kill("worker")
        stranded = stores.embed_runs_unfinished()
        cloud.start("worker")
        if stranded:
            break
    assert stranded, "no kill landed mid-batch"
    killed_at = agent.frame()

    end = deployment.finish(agent)

    # The killed run counted on its crops; a later run embedded them: queued again by the beat
    # sweep, or the task itself, handed out again by Redis after the visibility timeout.
    attempts = stores.embed_attempts(stranded)
    assert all(n >= 2 for n in attempts.values()), attempts
    assert end.losses == Losses()
    worker_log = cloud.output("worker")
    received_tasks = re.findall(r"embed_detections\[([0-9a-f-]+)\] received", worker_log)
    report(
        capsys,
        f"(c) worker kill -9 mid-batch at frame {killed_at}",
        crops=len(end.produced.crops),
        stored=len(end.stored.detections),
        vectors=len(end.stored.vectors),
        stranded_by_the_kill=len(stranded),
        their_runs=sorted(attempts.values()),
        sweep_requeues=worker_log.count("queued embedding again"),
        tasks_run_twice=sum(n > 1 for n in Counter(received_tasks).values()),
    )


CROP_BOUND = 12
RECORD_BOUND = 16


def test_outbox_past_its_bound_drops_the_oldest_and_the_device_counts_and_reports_them(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, stores = deployment.cloud, deployment.stores
    # The ingest server is down from the start until the clip has ended: nothing leaves the
    # outbox, which fills past its bounds.
    big = 256 * 1024**2  # bytes are not the bound here, rows are
    agent = deployment.start(
        "worker",
        "beat",
        "bridge",
        outbox={
            "crop": {"max_rows": CROP_BOUND, "max_bytes": big},
            "record": {"max_rows": RECORD_BOUND, "max_bytes": big},
        },
    )
    agent.wait_until(lambda a: a.logged_at("end of ") is not None, "the end of the clip")
    clip_ended = agent.logged_at("end of ")
    assert clip_ended is not None
    # What the device reports while the cloud is away: a heartbeat after the last drop.
    during = wait_for(
        lambda: stores.heartbeat(sampled_after=clip_ended),
        "a heartbeat after the end of the clip",
        timeout_s=30,
    )
    cloud.start("ingest")

    # Nothing reached the cloud before, so the bound kept the newest rows of each lane and
    # dropped the oldest: the cloud has exactly the rest.
    end = deployment.finish(
        agent,
        expected=lambda produced, losses: produced.without_oldest(
            crops=losses.dropped["crop"], records=losses.dropped["record"]
        ),
    )

    made_crops, made_records = len(end.produced.crops), len(end.produced.records)
    dropped_crops, dropped_records = made_crops - CROP_BOUND, made_records - RECORD_BOUND
    assert dropped_crops > 0
    assert dropped_records > 0
    # The device counted each drop, and said so in its heartbeat while the cloud was away, in
    # its last one (`finish` checked that) and in its log.
    assert end.losses == Losses(dropped={"record": dropped_records, "crop": dropped_crops})
    assert during.losses == end.losses
    assert during.outbox_dropped_total == dropped_crops + dropped_records
    assert (during.lanes["crop"]["rows"], during.lanes["record"]["rows"]) == (
        CROP_BOUND,
        RECORD_BOUND,
    )
    for kind, dropped in (("crop", dropped_crops), ("record", dropped_records)):
        *_, last = agent.messages(rf"outbox full for {kind}: .*, (\d+) dropped in total")
        assert int(last[1]) == dropped
    # The devices page shows the device's losses (lanes: dropped / dead letters / delivered).
    lost, cells = device_row(cloud.devices_page(), deployment.enrolment.device_id)
    assert lost
    assert f"(dropped {dropped_crops + dropped_records})" in cells["Outbox"]
    lanes = cells["Lanes: dropped / dead letters / delivered"]
    assert lanes.startswith(f"record: {dropped_records} / 0 / ")
    assert f"crop: {dropped_crops} / 0 / " in lanes
    assert end.summary["crops_sent"] == CROP_BOUND
    report(
        capsys,
        "(d) outbox past its bound",
        crops=made_crops,
        crops_dropped=dropped_crops,
        crops_stored=len(end.stored.detections),
        records=made_records,
        records_dropped=dropped_records,
        tracks_stored=len(end.stored.tracks),
    )


def test_bridge_absent_when_the_device_starts_loses_nothing(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, stores = deployment.cloud, deployment.stores
    agent = deployment.start("ingest", "worker", "beat")
    # Records and crops go over gRPC, so they flow without the bridge; the device's status
    # and heartbeats reach nobody yet.
    agent.at_frame(80)
    assert stores.crops() > 0
    assert stores.device_status() == ("offline", None)
    assert stores.heartbeat() is None

    cloud.start("bridge")
    (session,) = agent.sessions()
    # The retained birth tells the bridge the device is online; heartbeats follow.
    wait_for(lambda: stores.device_status() == ("online", session), "the device online", 30)
    wait_for(stores.heartbeat, "a heartbeat in the cloud", timeout_s=30)
    bridge_at = agent.frame()

    end = deployment.finish(agent)

    assert end.losses == Losses()
    assert end.summary["crops_sent"] == len(end.produced.crops)
    assert end.heartbeat.session_seq == session
    report(
        capsys,
        f"(e) bridge absent until frame 80 (device online in the cloud at frame {bridge_at})",
        crops=len(end.produced.crops),
        stored=len(end.stored.detections),
        summaries=len(end.produced.summaries),
        tracks=len(end.stored.tracks),
    )


@pytest.mark.parametrize("broker", ["private"], indirect=True)
def test_broker_restart_device_and_bridge_come_back_and_nothing_is_lost(
    deployment: Deployment, private_broker: PrivateBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, stores = deployment.cloud, deployment.stores
    agent = deployment.start(*ALL)
    agent.at_frame(60)
    assert stores.heartbeat() is not None

    # Without persistence the restarted broker has lost every session and retained message.
    private_broker.kill()
    time.sleep(3)
    private_broker.start()

    agent.wait_until(lambda a: len(a.sessions()) == 2, "the device back on the broker")
    session = agent.sessions()[-1]
    # The device announced itself again and the bridge subscribed again: the new birth and
    # heartbeats reach the cloud.
    wait_for(lambda: stores.device_status() == ("online", session), "the new birth applied", 60)
    wait_for(
        lambda: (hb := stores.heartbeat()) is not None and hb.session_seq == session,
        "a heartbeat of the new session",
        timeout_s=30,
    )
    back_at = agent.frame()

    end = deployment.finish(agent)

    assert end.losses == Losses()
    assert end.summary["crops_sent"] == len(end.produced.crops)
    assert end.heartbeat.session_seq == session
    assert cloud.output("bridge").count("connected to the broker") == 2
    report(
        capsys,
        f"(f) broker kill -9 at frame 60, back 3 s later (both back in the cloud at frame "
        f"{back_at})",
        crops=len(end.produced.crops),
        stored=len(end.stored.detections),
        summaries=len(end.produced.summaries),
        tracks=len(end.stored.tracks),
        sessions=len(agent.sessions()),
    )
