"""The SQL migrations: installed as the package `service.migrations` (see setup.py), read by service/store/migrate.py."""
