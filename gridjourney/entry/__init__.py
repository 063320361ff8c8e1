"""Entering a journey: the re-entry rule, decided and performed in one place (entry.enter), for the
router and for the API's manual start alike."""
