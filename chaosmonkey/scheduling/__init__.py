"""When attacks run: `scheduler` runs each policy on its interval or cron (the only importer of
APScheduler), `planning` draws the daily plans of Chaos Monkey mode."""
