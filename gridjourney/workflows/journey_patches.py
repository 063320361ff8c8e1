"""The `workflow.patched` ids of JourneyWorkflow (workflows/journey.py): each marks a change of what
the run does, and runs started before it replay on the older path (tests/replay/ proves both)."""

# Quiet hours: send steps pass the step's sending hours, wait out a deferral on a timer and record a
# send given up. Runs started before it keep sending as they did (tests/replay/ proves both).
QUIET_HOURS_PATCH = "quiet-hours-1"
# Journey events ride on the activity the run calls next anyway, which appends them before its own
# work (their ids make a retry append nothing twice), or go together through one RECORD_JOURNEY_EVENTS
# before the run waits, continues as new or ends. Runs started before it record one activity per
# event (tests/replay/ proves both). No local activities: one that writes runs before its workflow
# task completes, so a task retried at a later workflow.now() would reuse an id with other content;
# and a patch first asked after a local activity that outlasted its task did not replay.
EVENTS_IN_STEP_PATCH = "journey-events-in-step-1"
# The entry's context load and the end's records ride on the first and last sends (see journey.py's
# docstring). Runs started before it load at entry and record the end in RECORD_JOURNEY_EVENTS
# (tests/replay/). Asked once, first thing, it stands for the two patches above as well: each patch a
# run asks adds a marker and a TemporalChangeVersion upsert to its history (the SDK's core does that),
# which cost the server about as much as the journey's own bookkeeping. Runs without it ask the older
# ones as before.
STEPS_CARRY_PATCH = "journey-context-and-exit-in-steps-1"
