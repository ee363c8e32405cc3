"""The ``deployer`` console command."""
