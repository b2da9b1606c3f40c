"""Video-conference session orchestrator: runs the agenda, decides which venue is on air,
hands the floor between speakers, runs the roll call and award presentations."""

__version__ = "0.1.0"
