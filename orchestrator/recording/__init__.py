"""The program's recording: what every venue saw and heard, remuxed into WebM, never transcoded.

`Recorder` (the runtime's part) follows the session's recording state; `ProgramReceiver`
receives the program from the media plane like a venue; `ProgramWriter` writes the
encoded frames into `MatroskaPart`s on a thread of its own; `RecordingTimeline` keeps the
segments, takes and captions for the chapters and the sidecar JSON.
"""

from .recorder import Recorder, RecordingOptions

__all__ = ["Recorder", "RecordingOptions"]
