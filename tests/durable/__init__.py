"""Durable time and events: sleep, wait_for_event, schedules, test_engine."""
