"""The shared gateway fixtures (real gateway, real RabbitMQ) for the SMS adapter tests."""

from tests.conftest import broker_names, http, make_gateway, queue_reader

__all__ = ["broker_names", "http", "make_gateway", "queue_reader"]
