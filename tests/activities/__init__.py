"""Tests of the activities and their providers."""
