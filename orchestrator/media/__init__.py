"""The media plane: `plane.MediaPlane`, and `create_media_plane` to make the configured one.

Everything outside this package speaks to the media through the protocol in `plane.py`.
The implementations (`sfu`, `router`, `baseline`, `janus`) are imported only when a plane is made,
so the venue side can use the shared helpers (`codec`, `aiortc_tap`) without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .aiortc_tap import restrict_host_addresses
from .plane import MediaObserver, MediaPlane, MediaPresence

if TYPE_CHECKING:
    from ..settings import ServerSettings

__all__ = ["create_media_plane", "restrict_host_addresses"]


def create_media_plane(
    settings: ServerSettings, main_venue: str, presence: MediaPresence, observer: MediaObserver | None = None,
    conference_id: str = "",
) -> MediaPlane:
    """The media plane `settings.media` names, routing to `main_venue`, reporting presence to `presence`
    and switches and forwarding to `observer` (the metrics; the transcoding baseline reports none).
    Janus's rooms are named after `conference_id` and the data folder: a restart finds its own."""
    from aiortc import RTCIceServer

    ice_servers = [
        RTCIceServer(
            urls=list(s.urls), username=s.username,
            credential=s.credential.get_secret_value() if s.credential is not None else None,
        )
        for s in settings.ice_servers
    ]
    if settings.media == "janus":
        from .janus import JanusMediaPlane

        return JanusMediaPlane(settings.janus_urls, settings.janus_api_secret, main_venue, presence,
                               settings.janus_admin_urls, settings.janus_admin_api_secret,
                               rooms_key=f"{conference_id}@{settings.data_dir.resolve()}")
    if settings.media == "transcode":
        from .baseline import TranscodingMediaServer, TranscodingRouter

        return TranscodingMediaServer(TranscodingRouter(main_venue), presence, ice_servers)
    from .router import ProgramRouter
    from .sfu import MediaServer

    return MediaServer(ProgramRouter(main_venue, observer=observer), presence, ice_servers)
