"""A pi0.5 policy server as the low level, through ``openpi-client`` (imported when first used)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .loop import Observation


class OpenPILowLevel:
    """A pi0.5 policy server (openpi's websocket protocol) through ``openpi-client``.

    ``protocol="mme-vla"`` (RoboMME's MME-VLA server, which serves its simple- and grounded-subgoal
    pi0.5 checkpoints) also sends the ``reset`` and ``add_buffer`` messages RoboMME's own
    evaluation sends; ``"openpi"`` sends observations only. The subgoal goes under both
    ``simple_subgoal`` and ``grounded_subgoal``, as RoboMME's evaluation sends it; the server's
    checkpoint decides which it reads.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 8000, protocol: str = "mme-vla", api_key: str | None = None
    ) -> None:
        if protocol not in ("mme-vla", "openpi"):
            raise ValueError(f"protocol must be 'mme-vla' or 'openpi', not {protocol!r}")
        try:
            from openpi_client.websocket_client_policy import WebsocketClientPolicy
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the low-level client needs openpi-client: pip install 'robomme-mem[sim]'") from exc
        self.protocol = protocol
        try:
            self._client = WebsocketClientPolicy(host, port, api_key=api_key)
        except OSError as exc:
            raise ConnectionError(
                f"no low-level policy server at ws://{host}:{port} ({exc}); start the pi0.5 server first (evaluate/README.md)"
            ) from None
        self.metadata = self._client.get_server_metadata()

    def close(self) -> None:
        """Close the websocket (``openpi-client`` keeps it in ``_ws`` and has no close of its own)."""
        ws = getattr(self._client, "_ws", None)
        if ws is not None:
            ws.close()

    def reset(self) -> None:
        if self.protocol == "mme-vla":
            reply = self._client.infer({"reset": True})
            if not reply.get("reset_finished"):
                raise RuntimeError(f"policy server did not confirm the reset: {reply}")

    def actions(self, goal: str, subgoal: str, new: Sequence[Observation], exec_start: int) -> np.ndarray:
        if self.protocol == "mme-vla":
            reply = self._client.infer(
                {
                    "add_buffer": True,
                    "images": np.stack([o.front for o in new]).astype(np.uint8)[:, None],
                    "state": np.stack([o.state for o in new]).astype(np.float32),
                    "exec_start_idx": exec_start,
                }
            )
            if not reply.get("add_buffer_finished"):
                raise RuntimeError(f"policy server did not confirm the history buffer: {reply}")
        current = new[-1]
        element = {
            "observation/image": current.front,
            "observation/state": np.asarray(current.state, dtype=np.float32),
            "prompt": goal,
            "simple_subgoal": subgoal,
            "grounded_subgoal": subgoal,
        }
        if current.wrist is not None:
            element["observation/wrist_image"] = current.wrist
        return np.asarray(self._client.infer(element)["actions"])
