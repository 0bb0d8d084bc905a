"""The track the cheating attacks (``plugin.py``) are tried on, in a plugin of its own: an official run imports a
plugin that registers attacks only in the sandbox, so its tracks and defenses are not available there."""

from bench import hookimpl
from plugins.tracks.synthetic import SyntheticBlobs


class PoolBlobs(SyntheticBlobs):
    """synthetic-blobs on LiRA's pool design: each cell attacks several models in turn."""

    name = "cheat-pool-blobs"
    pool_design = True


@hookimpl
def register_tracks(register):
    register(PoolBlobs)
