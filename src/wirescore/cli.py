"""The `wirescore` command: thin click commands over wirescore.session and the engine.

Every setting of wirescore.config.SETTINGS is a flag of `run` and `config`, with
the same help text; a YAML file given with -c supplies the rest. Errors are one line
on stderr, "wirescore: error: <file>: <what is wrong>", exit status 1 (2 for usage).
"""
from __future__ import annotations

import logging
import sys
import time
import traceback

import click

from wirescore import __version__
from wirescore.cli_error import CliError
from wirescore.cli_serve import serve_cmd, start_serving, stop_serving
from wirescore.config import SETTINGS, Config
from wirescore.errors import WirescoreError, describe
from wirescore.pidfile import PidFile

log = logging.getLogger("wirescore")

EPILOG_RUN = """\b
Examples:
  wirescore run -r capture.pcap -l logs/
  tcpdump -i eth0 -U -w - | wirescore run -r - -l logs/
  wirescore run -r 'ssh://root@sensor/eth0?bpf=not port 22' -l logs/ --reconnect
  wirescore run -r capture.pcapng -l logs/ --no-detect --export flows.csv
  wirescore run -r capture.pcap -c wirescore.yaml --flow-timeout-udp-new 10
  wirescore run -i eth0 -l /var/log/wirescore --user wirescore
  wirescore run -i eth0 -l /var/log/wirescore --pidfile /run/wirescore/wirescore.pid
  wirescore run -i eth1 -l logs/ --workers 4 --buffer-size 256 --bpf 'not port 22'
  wirescore run --syscalls -l logs/          (root: bpftrace, the shipped script)
  wirescore run --syscalls-file trace.txt -l logs/

\b
Output (in the log directory, like Suricata's -l):
  eve.json   one JSON object per line: "flow" for every finished flow,
             "alert" for every alert, "stats" every --stats-interval seconds
             and at the end (with capture.kernel_drops on a live interface).
  pcaps/     the packets behind each alert (named in the alert's capture_file).
\b
Live capture (-i): runs until SIGTERM or Ctrl-C, then ends every flow (reason
shutdown) and writes everything out. SIGHUP reopens eve.json (logrotate). A full
or failing log disk does not stop it: lines wait in memory (--eve-buffer), then are
dropped and counted, and writing resumes when there is room. Every stats event
carries a health object (metadata.flowints.wirescore_health).
`wirescore interfaces` lists what can be captured. Capturing needs root, or
CAP_NET_RAW and CAP_NET_ADMIN; --user drops privileges once the capture is open.
\b
Exit status: 0 done; 1 error, in one line (an output that cannot be written is
refused before the first packet; when the capture breaks part-way, or a detection
profile, an output or a callback fails, the run stops: every flow read before is
written out, then the error names what failed; --debug adds the traceback);
2 usage error.
"""


def _setting_options(func):
    """Attach one click option per setting (default None: 'not given')."""
    for s in reversed(SETTINGS):
        unit = f" [{s.unit}]" if s.unit else ""
        default = "" if s.default is None else f" (default: {s.default})"
        help_text = f"{s.help}{unit}{default} YAML: {s.key}"
        if s.type is bool:
            opt = click.option(s.flag, s.dest, default=None, help=help_text)
        elif s.type is list:
            help_text = f"{s.help} YAML: {s.key}"
            opt = click.option(s.flag, s.dest, multiple=True, help=help_text)
        else:
            ctype = {int: click.INT, float: click.FLOAT, str: click.STRING}[s.type]
            metavar = s.unit.upper() if s.unit in ("s",) else None
            opt = click.option(s.flag, s.dest, type=ctype, default=None, help=help_text,
                               metavar=("SECONDS" if metavar == "S" else None))
        func = opt(func)
    return func


def _overrides(kwargs: dict) -> dict:
    return {s.key: kwargs.get(s.dest) for s in SETTINGS
            if kwargs.get(s.dest) is not None and kwargs.get(s.dest) != ()}


def _load_config(config_path, kwargs) -> Config:
    try:
        return Config.load(config_path, _overrides(kwargs))
    except WirescoreError as exc:
        raise CliError(str(exc)) from None


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("wirescore: %(message)s"))
    root = logging.getLogger("wirescore")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
@click.version_option(__version__, prog_name="wirescore")
@click.option("-v", "--verbose", count=True, help="More log output (debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--debug", is_flag=True,
              help="When a run fails, also print the Python traceback of the failure "
                   "(for a bug report); without it every error is one line.")
@click.pass_context
def main(ctx, verbose, quiet, debug):
    """Real-time network anomaly detection beside Suricata and Zeek.

    wirescore reads packets (a pcap/pcapng file or standard input), keeps
    bidirectional flows in a compiled core, and writes Suricata EVE-JSON
    (flow and stats events) that your Suricata tooling already reads.

    Start with: wirescore run -r capture.pcap -l logs/
    """
    _setup_logging(verbose, quiet)
    _limit_malloc_arenas()
    ctx.obj = {"quiet": quiet, "debug": debug}


def _limit_malloc_arenas() -> None:
    """Two glibc malloc arenas for the whole process, set before the reader and writer
    threads start: with one arena per thread, batches freed by another thread are not
    reused and the resident size grows with scheduling luck (seen: 81 MB on a quiet
    machine, 285 MB on a loaded one, for the same input). Other C libraries: no-op."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, 2)          # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


@main.command(epilog=EPILOG_RUN)
@click.option("-r", "--read", "read_path", metavar="PATH",
              help="Capture to read: a pcap or pcapng file, - for standard input "
                   "(e.g. piped from tcpdump -U -w -), or ssh://[user@]host[:port]/IFACE"
                   "[?bpf=EXPR] for tcpdump on a remote host over ssh.")
@click.option("-i", "--interface", "iface", metavar="IFACE",
              help="Network interface to capture from live (see `wirescore interfaces`); "
                   "runs until SIGTERM/SIGINT.")
@click.option("--syscalls", "syscalls", metavar="[SCRIPT|ssh://HOST]", is_flag=False,
              flag_value="", default=None,
              help="Instead of packets: trace system calls with bpftrace (the shipped "
                   "script, or SCRIPT; root and tracefs needed), or on ssh://[user@]host"
                   "[:port] over ssh, into process windows and the unit: process "
                   "profiles; alerts as EVE alert events.")
@click.option("--syscalls-file", "syscalls_file", metavar="FILE",
              help="Instead of packets: replay recorded bpftrace output of the syscall "
                   "script (- for standard input): no root needed.")
@click.option("-l", "--log-dir", "log_dir", default=".", show_default=True,
              type=click.Path(file_okay=False, writable=True),
              help="Directory for eve.json (created if missing).")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML file with settings (keys as `wirescore config` prints them); "
                   "flags override it.")
@click.option("--serve", "serve_at", metavar="[HOST:]PORT", default=None,
              help="Also serve the live dashboard (`wirescore serve`) on HOST:PORT (host "
                   "127.0.0.1 unless given), in a child process that reads eve.json; "
                   "after a file is read it stays up until Ctrl-C. Needs the serve extra.")
@click.option("--serve-token-file", type=click.Path(dir_okay=False), default=None,
              help="With --serve beyond loopback: file whose first line is the token.")
@_setting_options
@click.pass_context
def run(ctx, read_path, iface, syscalls, syscalls_file, log_dir, config_path, serve_at,
        serve_token_file, **kwargs):
    """Read a capture file, a pipe or a live interface; write flows and alerts as EVE-JSON.

    Give exactly one source: -r PATH (a file, or - for standard input) or -i IFACE.
    Flows end on idle timeout (per protocol and state), active timeout, TCP
    teardown (FIN both ways or RST, after a linger), eviction when --max-flows
    is reached, or end of input; each flow event says which (flow.reason).
    For files, timeouts run on packet time, so a replay is deterministic. A summary
    line (packets, flows, alerts, decode errors, packets/s) ends every run.
    """
    given = [x for x in (read_path, iface, syscalls, syscalls_file) if x is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one source: -r PATH (file or -), -i IFACE, "
                               "--syscalls [SCRIPT|ssh://HOST] or --syscalls-file FILE")
    cfg = _load_config(config_path, kwargs)
    if syscalls is not None or syscalls_file is not None:
        _run_syscalls(ctx, cfg, syscalls, syscalls_file, log_dir)
        return
    if iface is None and cfg["capture.workers"] > 1:
        raise click.UsageError("--workers applies to live capture (-i IFACE); a file is "
                               "read by one process")
    show_progress = (iface is None and sys.stderr.isatty() and not ctx.obj.get("quiet")
                     and read_path != "-" and serve_at is None)
    server = start_serving(serve_at, serve_token_file, log_dir, cfg["outputs.eve.filename"])
    try:
        _run(ctx, cfg, read_path, iface, log_dir, show_progress)
    except BaseException:
        stop_serving(server, keep=False)
        raise
    stop_serving(server, keep=iface is None)


def _run(ctx, cfg, read_path, iface, log_dir, show_progress) -> None:
    """The run itself (holding --pidfile), its errors as one line, its summary."""
    from wirescore import session
    from wirescore.engine import RunFault

    pidfile = PidFile(cfg["run.pidfile"]) if cfg["run.pidfile"] else None
    try:
        if pidfile is not None:
            pidfile.acquire()
        if iface is not None:
            summary = session.run_live(cfg, iface, log_dir)
        else:
            summary = session.run_file(cfg, read_path, log_dir,
                                       _ProgressLine() if show_progress else None)
    except RunFault as exc:
        if show_progress:
            click.echo("\r\033[K", nl=False, err=True)
        _traceback_if_asked(ctx, exc)
        done = exc.summary
        raise CliError(f"{exc} ({done.packets} packets before it, {done.flows} flows "
                       f"written to {done.eve_path})") from None
    except WirescoreError as exc:
        _traceback_if_asked(ctx, exc)
        raise CliError(str(exc)) from None
    except Exception as exc:            # a bug: one line too, the traceback on request
        _traceback_if_asked(ctx, exc)
        raise CliError(f"internal error: {describe(exc)} (`wirescore --debug run ...` "
                       "prints the traceback)") from None
    finally:
        if pidfile is not None:
            pidfile.release()
    _report(summary, show_progress)


def _run_syscalls(ctx, cfg, syscalls, syscalls_file, log_dir) -> None:
    """--syscalls / --syscalls-file: a syscall run (wirescore.syscalls), its errors as
    one line, its summary."""
    from wirescore import signals, status
    from wirescore.syscalls.run import SyscallEngine
    from wirescore.syscalls.source import open_syscalls

    remote = syscalls if syscalls and syscalls.lower().startswith("ssh://") else None
    script = syscalls if syscalls and remote is None else None
    try:
        source = open_syscalls(cfg, script=script, remote=remote, recording=syscalls_file)
        engine = SyscallEngine(cfg, log_dir, on_status=status.log_status,
                               on_error=status.log_error)
        restore = signals.install(engine.stop, engine.reopen_outputs)
        try:
            summary = engine.run_source(source)
        finally:
            restore()
    except WirescoreError as exc:
        _traceback_if_asked(ctx, exc)
        raise CliError(str(exc)) from None
    log.info("%s", summary.line())


def _traceback_if_asked(ctx, exc: BaseException) -> None:
    """With --debug: the traceback of exc and of what caused it, on stderr."""
    if ctx.obj.get("debug"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


# bounded state that dropped something (counted in the core), and the setting that
# raises the bound; the EVE stats event carries only Suricata's names, so the
# wirescore.* ones are reported here (and in Engine.run()'s Summary.counters)
LIMITS = {
    "flow.wrk.flows_evicted": "--max-flows",
    "wirescore.ctx_host_replaced": "--context-hosts",
    "wirescore.ctx_pair_replaced": "--context-hosts",
    "wirescore.ctx_port_replaced": "--context-hosts",
    "wirescore.ctx_hist_replaced": "--context-hosts",
    "wirescore.ctx_scan_replaced": "--context-hosts",
    "wirescore.window_keys_dropped": "--window-max-keys",
    "wirescore.firstseen_seen_replaced": "--firstseen-rows",
    "wirescore.firstseen_tally_replaced": "--firstseen-rows",
    "defrag.tracker_hard_reuse": None,
    "wirescore.scan_pending_early": "--scan-pending",
    "wirescore.scan_pending_dropped": "--scan-pending",
    "wirescore.flow_updates_skipped": None,
    "wirescore.flow_quiet_deferred": None,
    "wirescore.window_early_skipped": None,
}


def _report(summary, progress_shown: bool) -> None:
    if progress_shown:
        click.echo("\r\033[K", nl=False, err=True)
    log.info("%s", summary.line())
    errors = {k: v for k, v in summary.counters.items()
              if v and (".event." in k or k == "capture.errors")}
    if errors:
        log.info("decode errors by reason: %s",
                 ", ".join(f"{k}={v}" for k, v in sorted(errors.items())))
    hit = {k: summary.counters.get(k, 0) for k in LIMITS if summary.counters.get(k, 0)}
    if hit:
        raise_with = sorted({LIMITS[k] for k in hit if LIMITS[k]})
        log.warning("limits reached (state dropped and counted): %s%s",
                    ", ".join(f"{k}={v}" for k, v in hit.items()),
                    f"; raise them with {', '.join(raise_with)}" if raise_with else "")
    if summary.nonip_ethertypes:
        top = sorted(summary.nonip_ethertypes.items(), key=lambda kv: -kv[1])[:8]
        log.info("non-IP frames by ethertype: %s",
                 ", ".join(f"0x{k:04x}={v}" for k, v in top))


class _ProgressLine:
    """Redraw one status line on stderr at most 4 times a second."""

    def __init__(self):
        self._last = 0.0

    def __call__(self, p) -> None:
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        pct = ""
        if p.size_bytes:
            pct = f" {min(100.0, 100.0 * p.bytes_read / p.size_bytes):5.1f}%"
        rate = p.packets / p.elapsed if p.elapsed > 0 else 0
        click.echo(f"\r\033[K{p.source}:{pct} {p.packets:,} packets, {p.flows:,} flows, "
                   f"{rate:,.0f} packets/s", nl=False, err=True)


@main.command("config")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML file to merge over the defaults.")
@click.option("--no-comments", is_flag=True, help="Values only, no help comments.")
@_setting_options
def config_cmd(config_path, no_comments, **kwargs):
    """Print the effective configuration as YAML (defaults < -c FILE < flags).

    The output is itself a valid config file: save it, edit it, pass it with -c.
    """
    cfg = _load_config(config_path, kwargs)
    click.echo(cfg.to_yaml(with_help=not no_comments), nl=False)


@main.command("features")
@click.option("--set", "set_name", is_flag=False, flag_value="", default=None,
              metavar="NAME",
              help="A named feature set's columns (e.g. unsw-nb15) instead of the "
                   "catalogue's; --set alone lists the sets.")
@click.option("-r", "--read", "read_path", type=click.Path(dir_okay=False),
              help="With --set netml: the capture to compute it from (per capture).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False),
              help="With -r: the CSV file to write (one row a netml subflow).")
@click.option("--type", "feat_types", multiple=True, metavar="TYPE",
              help="With -r: netml's feature types (IAT, SIZE, IAT_SIZE, STATS, SAMP_NUM, "
                   "SAMP_SIZE, FFT-IAT, ...); repeatable; default IAT.")
@click.option("--header", is_flag=True, help="With -r: netml's header block (TCP flag "
                                             "counts and TTLs) before each type's columns.")
@click.option("--param", "param_pairs", multiple=True, metavar="KEY=VALUE",
              help="With -r: a netml parameter (q_interval, interval, dim, sampling_rate, "
                   "flow_pkts_thres, tcp_timeout, udp_timeout, ipv6, max_packets).")
def features_cmd(set_name, read_path, export_path, feat_types, header, param_pairs):
    """List every feature column: name, unit, definition.

    With --set NAME, a dataset's columns as computed from packets (`wirescore run
    --export F --feature-set NAME` writes them); columns the core cannot give are
    marked "not computed". A set computed per capture (netml) is written with
    `--set netml -r CAPTURE --export F.csv`.
    """
    from wirescore.catalog import describe

    if read_path or export_path:
        try:
            _features_of_capture(set_name, read_path, export_path, feat_types, header,
                                 param_pairs)
        except WirescoreError as exc:
            raise CliError(str(exc)) from None
        return
    if set_name is None:
        click.echo(describe())
        return
    from wirescore import featuresets

    try:
        click.echo(featuresets.describe(set_name) if set_name else featuresets.listing())
    except WirescoreError as exc:
        raise CliError(str(exc)) from None


def _features_of_capture(set_name, read_path, export_path, feat_types, header, param_pairs):
    """`features --set netml -r CAPTURE --export F.csv`."""
    from wirescore.cli_models import _params
    from wirescore.featuresets import get

    if not (set_name and read_path and export_path):
        raise WirescoreError("-r CAPTURE and --export FILE.csv go together, with --set "
                             "netml (a set computed per capture)")
    if not get(set_name).needs_capture:
        raise WirescoreError(f"feature set {set_name} is computed from flow records: "
                             f"write it with `wirescore run -r CAPTURE --export FILE "
                             f"--feature-set {set_name}`")
    if not str(export_path).endswith(".csv"):
        raise WirescoreError(f"{export_path}: --export here writes CSV (a .csv name)")
    from wirescore.featuresets import netml

    params = netml.params_from(_params(param_pairs))
    table = netml.from_capture(read_path, feat_types or ("IAT",), header, params)
    rows = netml.write_csv(table, export_path)
    log.info("%s: %d netml subflows, %d feature columns (interval %.6g s, dim %d, "
             "sampling rate %.6g s)", export_path, rows, len(table.names), table.interval,
             table.dim, table.sampling_rate)


@main.command("interfaces")
def interfaces_cmd():
    """List the network interfaces wirescore can capture from (-i).

    One line each: name, state (up, running, no carrier, down), addresses, and
    what capture would see there (loopback, Wi-Fi, ...). Capturing itself needs
    root, or CAP_NET_RAW and CAP_NET_ADMIN on the Python interpreter.
    """
    from wirescore.interfaces import format_interfaces, list_interfaces

    try:
        click.echo(format_interfaces(list_interfaces()))
    except WirescoreError as exc:
        raise CliError(str(exc)) from None


@main.group("rules")
def rules_group():
    """Detection profiles (rules/*.yaml): check them before a run."""


@rules_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
def rules_check(paths):
    """Validate profile files or folders (default: the shipped rules).

    Prints one line per file with its profiles, or a one-line error
    'FILE:LINE: field: problem' and exit status 1.
    """
    from wirescore.rules import default_rules_dir, load_paths

    targets = list(paths) or [str(default_rules_dir())]
    try:
        profiles = load_paths(targets)
    except WirescoreError as exc:
        raise CliError(str(exc)) from None
    by_file: dict[str, list] = {}
    for p in profiles:
        by_file.setdefault(p.source, []).append(p)
    for source, profs in by_file.items():
        ids = ", ".join(f"{p.id} ({p.unit}, {len(p.features)} features, model {p.model['name']})"
                        for p in profs)
        click.echo(f"ok {source}: {ids}")
    if not profiles:
        click.echo("no profiles found", err=True)


# train / eval (src/wirescore/cli_models.py; heavy imports happen inside the commands)
from wirescore.cli_models import eval_cmd, train_cmd  # noqa: E402

main.add_command(train_cmd)
main.add_command(eval_cmd)
main.add_command(serve_cmd)

# model compare (src/wirescore/cli_research.py)
from wirescore.cli_research import model_group  # noqa: E402

main.add_command(model_group)
