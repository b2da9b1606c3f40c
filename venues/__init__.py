"""The venue side: the page a branch venue opens by its link, and the venue agent."""
