"""The realtime engine (`timbrespace serve`): a model played block by block, driven over OSC,
heard on an audio device, written to a file, or run against a null clock. A face: it reaches
models only through `LatentSpace`, `timbrespace.blocks` and `timbrespace.live`.

    engine = Engine(LatentSpace.open("run/bundle"), block=512)
    out = engine.render_block(audio_in)                 # [channels, 512] float32
    OscServer(engine, port=9000).start()                # /bias 3 1.5, /plane 0.2 0.8, /note 60 100
"""

from timbrespace.engine.addresses import ADDRESSES, AddressError, Command, osc_help, parse_message
from timbrespace.engine.core import Engine

__all__ = ["ADDRESSES", "AddressError", "Command", "Engine", "osc_help", "parse_message"]
