"""`openweight chat`: a terminal conversation with streaming, the reasoning dimmed apart from the answer.

    openweight chat                        interactive (/help lists the commands)
    openweight chat "What is 12 * 34?"     one question, one answer
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.text import Text

from .chat.reply import ChatReply
from .tasks.tools import CALCULATE, run_tool

HELP = """commands:
  /effort low|medium|high   how long the model thinks (harmony models)
  /system TEXT              set the system prompt (starts a new conversation)
  /reset                    forget the conversation
  /think                    show the reasoning of the last reply in full
  /help                     this list
  /quit                     leave (or Ctrl-D)
A line ending in \\ continues on the next line; a line of three quotes starts and ends a block.
Ctrl-C stops a reply without leaving."""

EFFORTS = ("low", "medium", "high")
MAX_TOOL_ROUNDS = 4
REASONING_LINES = 6  # lines of reasoning kept on screen while it streams, before it collapses


@dataclass
class ChatSession:
    """One conversation with a model: the history, the settings, and printing replies as they stream."""

    lm: object
    console: Console
    effort: str | None = None
    system: str | None = None
    max_new_tokens: int = 1024
    sampling: dict = field(default_factory=dict)
    calculator: bool = False  # offer the calculate tool and run the model's calls to it
    collapse: bool = True  # fold the reasoning to one line once the answer starts
    messages: list[dict] = field(default_factory=list)
    last_reasoning: str = ""

    def command(self, line: str) -> bool:
        """Run a /command; False when the user asked to leave."""
        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if name in ("quit", "exit"):
            return False
        if name == "effort" and arg in EFFORTS:
            self.effort = arg
            self.console.print(f"reasoning effort: {arg}", style="cyan")
        elif name == "system" and arg:
            self.system, self.messages = arg, []
            self.console.print("system prompt set; new conversation", style="cyan")
        elif name == "reset":
            self.messages = []
            self.console.print("new conversation", style="cyan")
        elif name == "think":
            self.console.print(Text(self.last_reasoning or "(no reasoning yet)", style="dim"))
        elif name == "help":
            self.console.print(HELP)
        else:
            self.console.print(f"unknown command or argument: {line!r}; /help lists them", style="red")
        return True

    def ask(self, question: str) -> None:
        """Send a user message and print the reply (running tool calls when the calculator is on)."""
        kept = len(self.messages)
        self.messages.append({"role": "user", "content": question})
        for _ in range(MAX_TOOL_ROUNDS + 1):
            reply = self._stream_reply()
            if reply is None:  # interrupted: the exchange is dropped, as if never asked
                del self.messages[kept:]
                return
            message = {"role": "assistant", "content": reply.content}
            if reply.tool_calls:
                message["tool_calls"] = reply.tool_calls
            self.messages.append(message)
            if not (self.calculator and reply.finish_reason == "tool_calls"):
                return
            for call in reply.tool_calls:
                result = run_tool(call["function"]["name"], call["function"]["arguments"])
                self.console.print(f"  ↳ {call['function']['name']}({call['function']['arguments']}) = {result}",
                                   style="yellow")
                self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    def _conversation(self) -> list[dict]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.messages

    def _stream_reply(self) -> ChatReply | None:
        stream = self.lm.chat(self._conversation(), self.max_new_tokens, reasoning_effort=self.effort,
                              tools=[CALCULATE] if self.calculator else None, stream=True, **self.sampling)
        reasoning, answer_started, interrupted = "", False, threading.Event()
        live = Live(Text(""), console=self.console, transient=self.collapse, auto_refresh=False)
        live.start()
        # Ctrl-C only raises a flag that the loop reads after each piece: a KeyboardInterrupt could
        # land inside a finalizer and be swallowed there, leaving the reply running.
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set()) if _main_thread() else None
        try:
            for delta in stream:
                if interrupted.is_set():
                    raise KeyboardInterrupt
                if delta.reasoning:
                    reasoning += delta.reasoning
                    shown = reasoning if not self.collapse else "\n".join(
                        reasoning.splitlines()[-REASONING_LINES:])
                    live.update(Text(shown, style="dim"), refresh=True)
                if (delta.content or delta.tool_call) and not answer_started:
                    answer_started = True
                    self._close_reasoning(live, reasoning)
                if delta.content:
                    self.console.print(delta.content, end="", highlight=False, markup=False)
        except KeyboardInterrupt:
            self.console.print("\n[interrupted; this exchange is not kept]", style="red", markup=False)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if not answer_started:
                self._close_reasoning(live, reasoning)
        self.console.print()
        self.last_reasoning = reasoning
        return None if interrupted.is_set() else stream.reply  # None when interrupted

    def _close_reasoning(self, live: Live, reasoning: str) -> None:
        live.stop()
        if reasoning and self.collapse:
            tokens = len(self.lm.tokenizer.encode(reasoning))
            self.console.print(f"▸ thought for {tokens} tokens (/think shows it)", style="dim")
        elif reasoning:
            self.console.print()  # a blank line between the reasoning and the answer


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def read_message(console: Console) -> str | None:
    """One user message from the terminal (None at end of input): '\\' continues a line, '\"\"\"' opens a block."""
    try:
        line = console.input("[bold green]›[/] ")
    except EOFError:
        return None
    if line.strip() == '"""':
        lines = []
        while (more := _next_line(console)) is not None and more.strip() != '"""':
            lines.append(more)
        return "\n".join(lines)
    lines = [line]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        more = _next_line(console)
        if more is None:
            break
        lines.append(more)
    return "\n".join(lines)


def _next_line(console: Console) -> str | None:
    try:
        return console.input("[green]…[/] ")
    except EOFError:
        return None


def interactive(session: ChatSession) -> None:
    console = session.console
    console.print(f"openweight chat — {session.lm.config.model_type} model; /help for commands, Ctrl-D to leave",
                  style="cyan")
    while True:
        try:
            text = read_message(console)
        except KeyboardInterrupt:
            console.print("\n(Ctrl-D or /quit leaves)", style="dim")
            continue
        if text is None:
            return
        if not text.strip():
            continue
        if text.startswith("/"):
            if not session.command(text.strip()):
                return
            continue
        session.ask(text)


def run_chat(lm, question: str | None, *, effort: str | None, system: str | None, max_new_tokens: int,
             sampling: dict, calculator: bool, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    session = ChatSession(lm, console, effort, system, max_new_tokens, sampling, calculator,
                          collapse=question is None and console.is_terminal)
    if question is None:
        interactive(session)
    else:
        session.ask(question)
