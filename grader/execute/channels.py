"""The grader's end of the kernel's ZMQ channels, bounded where the bytes arrive.

A kernel is untrusted: one ``display`` of 800 MB of text is one 800 MB ZMQ frame, which
jupyter_client would receive whole, then decode (several copies) before nbclient saw it. Here
every channel socket of the client gets, before it connects:

- ``MAXMSGSIZE``: no frame larger than the cap is ever buffered. libzmq reads a frame's size
  from its header and, past the cap, drops the connection instead of allocating (the message
  is lost, and libzmq treats it as a protocol error: that channel never reconnects).
- ``RCVHWM``: at most a few complete messages wait in the client's queue; past that libzmq
  stops reading and the kernel's side buffers (inside the sandbox, under its memory limit).

So the grader holds at most about ``(QUEUE + 2) × cap`` of not-yet-read output per kernel,
whatever the notebook prints. A channel that drops while the kernel process stays alive can
only have refused a message over the cap: :class:`Watch` sees the drop in the socket's
monitor events, gives the kernel ``GRACE`` seconds to turn out dead (a kernel that dies drops
its connections too, and a death stays a death), and then the runner stops the kernel and
reports ``output_limit``.

Each received message also carries its size on the wire (``RAW_SIZE``): the output budget is
counted from bytes as received, not by encoding the decoded message again.
"""
from __future__ import annotations

import asyncio
import time
import typing as t

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Int, Type
from zmq.utils.monitor import parse_monitor_message

#: complete messages the client's queue holds before libzmq stops reading from the kernel
QUEUE = 4
#: the largest frame besides the content: header, parent header, metadata, signature
HEADROOM = 64 * 1024
#: key of a received message: its frames' total size in bytes, as they came off the socket
RAW_SIZE = "grader_raw_bytes"
#: the channels whose connection drops are watched (heartbeat is left to jupyter_client)
WATCHED = ("shell", "iopub", "control", "stdin")
#: seconds a kernel whose channel dropped has to be seen dead before the drop counts as a refusal
GRACE = 2.0


class CountingChannel(AsyncZMQSocketChannel):
    """Records each message's size on the wire in ``msg[RAW_SIZE]``."""

    async def _recv(self, **kwargs: t.Any) -> dict[str, t.Any]:  # type: ignore[override]
        frames = await self.socket.recv_multipart(**kwargs)
        size = sum(len(frame) for frame in frames)
        _, message = self.session.feed_identities(frames)
        decoded = self.session.deserialize(message)
        decoded[RAW_SIZE] = size
        return decoded


class CappedKernelClient(AsyncKernelClient):
    """An async kernel client whose sockets refuse frames over ``message_cap`` bytes."""

    message_cap = Int(6 * 1024 * 1024, help="the largest frame accepted, in bytes")
    shell_cap = Int(0, help="the largest frame accepted on the shell channel, which carries "
                    "the grader's own report (the model and its weights); 0: message_cap")
    shell_channel_class = Type(CountingChannel)
    iopub_channel_class = Type(CountingChannel)
    stdin_channel_class = Type(CountingChannel)
    control_channel_class = Type(CountingChannel)

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        #: (channel, monitor socket), created with each channel's socket, before it connects
        self.monitors: list[tuple[str, t.Any]] = []

    def _create_connected_socket(self, channel: str, identity: bytes | None = None):
        """jupyter_client's own method with the limits set first: libzmq applies
        ``MAXMSGSIZE`` and ``RCVHWM`` to connections made after they are set."""
        cap = self.shell_cap if channel == "shell" and self.shell_cap else self.message_cap
        self.context.setsockopt(zmq.MAXMSGSIZE, cap if channel != "hb" else HEADROOM)
        self.context.setsockopt(zmq.RCVHWM, QUEUE)
        return super()._create_connected_socket(channel, identity)

    def connect_iopub(self, identity: bytes | None = None):
        return self._monitored("iopub", super().connect_iopub(identity))

    def connect_shell(self, identity: bytes | None = None):
        return self._monitored("shell", super().connect_shell(identity))

    def connect_control(self, identity: bytes | None = None):
        return self._monitored("control", super().connect_control(identity))

    def connect_stdin(self, identity: bytes | None = None):
        return self._monitored("stdin", super().connect_stdin(identity))

    def _monitored(self, channel: str, sock: zmq.Socket) -> zmq.Socket:
        """A monitor of the socket's disconnections (made after connecting: nothing can
        have been received yet, the kernel has not been asked anything)."""
        self.monitors.append((channel, sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)))
        return sock

    def close_monitors(self) -> None:
        for _, monitor in self.monitors:
            try:
                monitor.close(linger=0)
            except zmq.ZMQError:
                pass
        self.monitors.clear()


class Watch:
    """Waits for a monitored channel to drop while ``alive()`` stays true; then calls
    ``on_oversized`` with the channel's name."""

    def __init__(self, client: CappedKernelClient, alive: t.Callable[[], t.Awaitable[bool]],
                 on_oversized: t.Callable[[str], t.Awaitable[None]],
                 grace: float = GRACE) -> None:
        self.client, self.alive, self.on_oversized = client, alive, on_oversized
        self.grace = grace
        #: the channel whose message was over the cap (None: none seen)
        self.channel: str | None = None
        #: the watch that saw the refusal, while it stops the kernel
        self._firing: asyncio.Task | None = None
        self.tasks = [asyncio.ensure_future(self._watch(name, monitor))
                      for name, monitor in client.monitors]

    async def _watch(self, channel: str, monitor: t.Any) -> None:
        while True:
            try:
                frames = await monitor.recv_multipart()
            except (zmq.ZMQError, asyncio.CancelledError):
                return
            if parse_monitor_message(frames)["event"] != zmq.EVENT_DISCONNECTED:
                continue
            if await self._stays_alive() and self.channel is None:
                self.channel, self._firing = channel, asyncio.current_task()
                await self.on_oversized(channel)
            return

    async def _stays_alive(self) -> bool:
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            if not await self.alive():
                return False
            await asyncio.sleep(0.1)
        return bool(await self.alive())

    async def stop(self) -> None:
        """End the watch; a kernel's stop it began is awaited, not cut short."""
        for task in self.tasks:
            if task is not self._firing:
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.client.close_monitors()
