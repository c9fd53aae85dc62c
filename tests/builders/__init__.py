"""Builders the tests share: the rows, requests, apps and worlds more than one test module
starts from, one module per kind (api, rows, apps, twilio, routes, delivery). Test modules
import them from here, never from one another; fixtures stay in the conftest.py files
(tests/conftest.py: the app, the database, tenants, Temporal).

tests/seed.py seeds a business straight into the tables for the workflow tests; the local
SMTP and Twilio servers are in tests/fakes.
"""
