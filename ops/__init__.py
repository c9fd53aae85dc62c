"""What an operator runs beside the services (`reminders` CLI, and the admin API for
reconcile): the dev stack, migrations, the first admin, drift repair."""
