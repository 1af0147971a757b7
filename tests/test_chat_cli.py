"""`openweight chat` as people use it: in a real terminal (a pty), with Ctrl-C as a real SIGINT."""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    """A command running on a pseudo-terminal, read until an expected text shows."""

    def __init__(self, *args: str):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(OMP_NUM_THREADS="1", COLUMNS="120", LINES="40", TERM="xterm")
            os.execv(sys.executable, [sys.executable, "-m", "openweight.cli", *args])
        self.seen = ""

    def expect(self, text: str, timeout: float = 120) -> str:
        deadline = time.time() + timeout
        while text not in ANSI.sub("", self.seen):
            left = deadline - time.time()
            assert left > 0, f"{text!r} did not show; the terminal shows:\n{ANSI.sub('', self.seen)[-2000:]}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    self.seen += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:  # the program exited
                    break
        screen = ANSI.sub("", self.seen)
        assert text in screen, f"{text!r} did not show:\n{screen[-2000:]}"
        return screen

    def send(self, line: str) -> None:
        self.seen = ""
        os.write(self.fd, (line + "\n").encode())

    def exit_code(self, timeout: float = 30) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 65536)
            except OSError:
                pass
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("openweight chat did not exit")


def test_interactive_chat_effort_interrupt_and_reasoning():
    term = Terminal("chat")
    term.expect("/help for commands")
    term.send("/effort high")
    term.expect("reasoning effort: high")
    term.send("What is 98765 * 4321?")  # a long written-out multiplication
    term.expect("each digit")  # the reasoning is streaming (the echo of the question does not say this)
    os.kill(term.pid, signal.SIGINT)  # Ctrl-C: stops the reply, not the program
    screen = term.expect("[interrupted")
    term.expect("›")
    assert "Traceback" not in screen
    term.send("What is 23 + 58?")
    screen = term.expect("thought for")  # folded to one line once the answer started
    screen = term.expect("81")
    term.send("/think")
    screen = term.expect("Correct.")
    assert "23" in screen
    term.send("/quit")
    assert term.exit_code() == 0


def test_one_question_prints_the_reasoning_and_the_answer():
    out = subprocess.run([sys.executable, "-m", "openweight.cli", "chat", "--effort", "high", "What is 23 + 58?"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    reasoning, answer = out.stdout.rstrip().rsplit("\n", 1)
    assert "Check" in reasoning and answer.strip() == "81"


def test_the_calculator_tool_is_called_and_its_result_used():
    out = subprocess.run([sys.executable, "-m", "openweight.cli", "chat", "--calculator", "What is 4321 * 8765?"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert "calculate" in out.stdout and f"= {4321 * 8765}" in out.stdout
    assert out.stdout.rstrip().endswith(str(4321 * 8765))
