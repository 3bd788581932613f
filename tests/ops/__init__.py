"""Tests of the op table (tape/ops): the registry sweep and its rows."""
