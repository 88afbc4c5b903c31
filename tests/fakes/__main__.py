"""``python -m tests.fakes [options]``: run the fake SendGrid in its own process."""

from tests.fakes.sendgrid_server import main

main()
