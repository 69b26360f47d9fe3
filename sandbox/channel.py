# The step channel: the sandbox's main process. It reads one JSON request per line on stdin and answers
# one JSON line on stdout. Each command runs in a fresh `sh -c` of its own, in /workspace, in a new
# process group; output is captured head and tail, so a flood of output costs bounded memory.
import json
import os
import selectors
import signal
import subprocess
import sys
import time


class Capture:
    """Keeps the first and last `limit // 2` bytes of a stream and counts them all."""

    def __init__(self, limit):
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(len(self.tail) - self.half, 0)]

    def text(self):
        kept = len(self.head) + len(self.tail)
        body = bytes(self.head)
        if self.total > kept:
            body += b"\n[... %d bytes omitted ...]\n" % (self.total - kept)
        return (body + bytes(self.tail)).decode("utf-8", "replace")


def kill_all_but_me():
    """Kills every other process in the sandbox: a step that timed out leaves nothing behind."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass


def reap_orphans():
    # The channel is the sandbox's init: orphaned background processes are reparented to it.
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def run(request):
    limit = int(request.get("max_output", 10240))
    deadline = time.monotonic() + int(request["timeout_ms"]) / 1000
    started = time.monotonic()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", request["command"]],
        cwd="/workspace",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    captures = {proc.stdout: Capture(limit), proc.stderr: Capture(limit)}
    selector = selectors.DefaultSelector()
    for stream in captures:
        os.set_blocking(stream.fileno(), False)
        selector.register(stream, selectors.EVENT_READ)
    timed_out = False
    while selector.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        # Once the shell has exited, a background process may still hold the pipes: stop at the first quiet moment.
        wait = min(left, 0.01) if proc.poll() is not None else left
        events = selector.select(wait)
        if not events and proc.poll() is not None:
            break
        for key, _ in events:
            chunk = os.read(key.fileobj.fileno(), 65536)
            if chunk:
                captures[key.fileobj].add(chunk)
            else:
                selector.unregister(key.fileobj)
    if timed_out:
        kill_all_but_me()
    exit_code = proc.wait()
    for stream in captures:
        stream.close()
    reap_orphans()
    stdout, stderr = captures.values()
    killed_by = -exit_code if exit_code < 0 else None
    return {
        # The shell's conventions: 124 for a timeout (as timeout(1)), 128 + N for death by signal N.
        "exit_code": 124 if timed_out else (128 + killed_by if killed_by else exit_code),
        "timed_out": timed_out,
        "signal": None if timed_out else killed_by,
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "stdout_bytes": stdout.total,
        "stderr_bytes": stderr.total,
        "duration_ms": round((time.monotonic() - started) * 1000, 3),
    }


def main():
    out = sys.stdout
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            reply = {"ready": True} if request.get("command") is None else run(request)
        except Exception as error:  # an unrunnable request is that step's error, never the channel's end
            reply = {"error": "%s: %s" % (type(error).__name__, error)}
        reply["id"] = request["id"]
        out.write(json.dumps(reply) + "\n")
        out.flush()


main()
