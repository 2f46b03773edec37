"""``shipbot serve`` (Slack over HTTP) and ``shipbot socket`` (Socket Mode).

Both build the same bot; only the transport differs. HTTP runs Bolt's WSGI
adapter behind a signature guard on waitress (``bot.slack.http``).

Stopping (SIGTERM or SIGINT): stop accepting requests, stop the expiry
timers, cancel running deploys softly — they stop at the next step boundary
and put healthy servers back into the load balancer — wait for them, deliver
the queued messages, exit 0; a second signal aborts the running commands.
A deploy is not left to finish on its own: a supervisor's kill timeout is
usually shorter than a deploy, and a kill mid-step is what strands a server
outside the load balancer.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from adapters.scheduler import ApSchedulerTimers
from bot.exits import EXIT_OK, EXIT_USAGE
from bot.handler import CommandHandler
from bot.logs import configure_logging
from bot.slack.announce import SlackAnnouncer
from bot.slack.app import build_app
from bot.slack.approvals import SlackApprovals
from bot.slack.canary import CanaryWatch
from bot.slack.home_tabs import HomeTabs
from bot.slack.http import Guard, health_body
from bot.slack.http import serve as serve_http
from bot.slack.jobs import Jobs
from bot.slack.maintenance import Maintenance
from bot.slack.posters import ChannelPosters
from bot.slack.queue import QueueRunner
from bot.slack.schedules import SlackSchedules
from bot.slack.setting_news import SettingNews
from bot.slack.truth import MessageTruth
from bot.wiring import Services

log = logging.getLogger("shipbot.slack")

DEFAULT_API_URL = "https://slack.com/api/"
SLACK_TIMEOUT = 30  # seconds per Web API call (each retry has its own)


class ConfigError(ValueError):
    """Missing or unusable Slack configuration; one line."""


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str | None
    app_token: str | None
    api_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, socket_mode: bool) -> SlackConfig:
        needed = ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN" if socket_mode else "SLACK_SIGNING_SECRET"]
        missing = [name for name in needed if not env.get(name)]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} must be set for shipbot "
                f"{'socket' if socket_mode else 'serve'} (README: Connect to Slack)"
            )
        api_url = env.get("SLACK_API_URL") or DEFAULT_API_URL
        return cls(
            bot_token=env["SLACK_BOT_TOKEN"],
            signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            app_token=env.get("SLACK_APP_TOKEN") or None,
            # WebClient joins method names onto the base URL: it must end in "/".
            api_url=api_url if api_url.endswith("/") else api_url + "/",
        )


class SlackBot:
    """The running bot: Bolt app, message poster, job pool, expiry timers and
    housekeeping; wired here, in one place."""

    def __init__(
        self, services: Services, config: SlackConfig, *, kind: str, workers: int = 16
    ) -> None:
        self.services = services
        self.signing_secret = config.signing_secret or ""
        store, clock = services.store, services.clock
        client = WebClient(base_url=config.api_url, token=config.bot_token, timeout=SLACK_TIMEOUT)
        self.poster = ChannelPosters(client)
        self.owner = store.register_process(kind, clock.now())
        self.jobs = Jobs(store, max_workers=workers)
        self.timers = ApSchedulerTimers()
        self.started_at = clock.now()
        self.announcer = SlackAnnouncer(store=store, poster=self.poster, clock=clock)
        # Approved and scheduled deploys were authorized (and approved) already: the
        # runner that runs them has no desks.
        runner = CommandHandler(services)
        self.approvals = SlackApprovals(
            services=services,
            poster=self.poster,
            jobs=self.jobs,
            timers=self.timers,
            runner=runner,
            announcer=self.announcer,
            owner=self.owner,
        )
        self.schedules = SlackSchedules(
            services=services,
            poster=self.poster,
            jobs=self.jobs,
            timers=self.timers,
            approvals=self.approvals,
            runner=runner,
            owner=self.owner,
        )
        handler = CommandHandler(
            services, approvals=self.approvals, schedules=self.schedules, queue_in_store=True
        )
        self.queue = QueueRunner(handler=handler, poster=self.poster, jobs=self.jobs)
        self.canaries = CanaryWatch(handler=handler, poster=self.poster, jobs=self.jobs)
        self.home = HomeTabs(client=client, services=services)
        self.truth = MessageTruth(store=store, poster=self.poster, clock=clock)
        self.setting_news = SettingNews(
            store=store, poster=self.poster, manifest=services.manifest, clock=clock
        )
        self.maintenance = Maintenance(
            store=store,
            clock=clock,
            announcer=self.announcer,
            process_id=self.owner,
            ticks=[
                self.queue.tick,
                self.canaries.tick,
                self.home.tick,
                self.truth.tick,
                self.setting_news.tick,
            ],
            # Replicas: arm what another replica accepted, in case it dies first.
            sweeps=[self.approvals.adopt, lambda: self.schedules.adopt(self.started_at)],
        )
        self.app = build_app(
            client=client,
            # Socket Mode requests are not signed; Bolt checks only HTTP ones.
            signing_secret=config.signing_secret or "",
            handler=handler,
            approvals=self.approvals,
            poster=self.poster,
            jobs=self.jobs,
            announcer=self.announcer,
            owner=self.owner,
            home=self.home,
        )

    def store_ok(self) -> bool:
        """Whether the store answers (for /healthz)."""
        try:
            self.services.store.ping()
            return True
        except Exception:
            return False

    def start(self) -> None:
        # Announce first what a previous process left behind (a crash mid-deploy,
        # acknowledged jobs it never started), then take new work.
        self.maintenance.start()
        self.timers.start()
        self.approvals.resume()
        self.schedules.resume(self.started_at)

    def stop(self) -> None:
        self.timers.shutdown()
        self.jobs.stop()
        self.maintenance.stop()
        self.services.store.retire_process(self.owner, self.services.clock.now())
        self.poster.close()


def run_slack(name: str, services: Services, args: list[str], *, db: str) -> int:
    """``shipbot serve`` / ``shipbot socket``: run until SIGTERM or SIGINT."""
    configure_logging()
    parser = argparse.ArgumentParser(prog=f"shipbot {name}", allow_abbrev=False)
    if name == "serve":
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--workers", type=int, default=16, help="deploys (and approval requests) run at once"
    )
    options = parser.parse_args(args)
    if options.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        config = SlackConfig.from_env(os.environ, socket_mode=name == "socket")
        bot = SlackBot(services, config, kind=name, workers=options.workers)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (BoltError, SlackClientError, OSError) as exc:
        print(f"error: cannot start the Slack app: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    _warn_open_apps(services)
    stop = _stop_on_signals(bot.jobs.abort)
    bot.start()
    try:
        if name == "serve":
            _serve_http(bot, options.host, options.port, services, db, stop)
        else:
            _serve_socket(bot, config, stop)
    except SlackClientError as exc:  # apps.connections.open refused the app token
        print(f"error: cannot connect to Slack over Socket Mode: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        log.info("stopping: cancelling running deploys at their next step, flushing messages")
        bot.stop()
    log.info("stopped")
    return EXIT_OK


def _serve_http(
    bot: SlackBot, host: str, port: int, services: Services, db: str, stop: threading.Event
) -> None:
    store, clock = services.store, services.clock
    guard = Guard(
        SlackRequestHandler(bot.app),
        signing_secret=bot.signing_secret,
        seen=lambda signature: store.mark_request_seen(signature, clock.now()),
        health=health_body(sorted(services.manifest.apps), db, bot.store_ok),
    )
    serve_http(guard, host, port, stop)


def _serve_socket(bot: SlackBot, config: SlackConfig, stop: threading.Event) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(bot.app, config.app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    if handler.client.is_connected():
        log.info("connected to Slack over Socket Mode")
    else:  # slack_sdk logs why and keeps retrying in the background
        log.warning("not connected to Slack over Socket Mode yet; retrying")
    stop.wait()
    handler.close()  # type: ignore[no-untyped-call]


def _warn_open_apps(services: Services) -> None:
    """An app anyone in the workspace may deploy is worth a warning at every start."""
    for name, app in sorted(services.manifest.apps.items()):
        lists = {"deployers": app.deployers, "settings_editors": app.settings_editors or ()}
        open_in = [key for key, users in lists.items() if "*" in users]
        if open_in:
            log.warning(
                '%s is open to everyone: %s contain "*"; list the Slack user ids instead',
                name,
                " and ".join(open_in),
            )


def _stop_on_signals(abort: Callable[[], None]) -> threading.Event:
    """The first SIGTERM/SIGINT sets the returned event; a second one calls ``abort``."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os.write(2, b"shipbot: aborting running deploys now\n")
            abort()
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    return stop


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
