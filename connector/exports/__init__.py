"""Exports of contacts with their current entitlements: formula-safe CSV for spreadsheets, or JSON.

The subject export (``consent-sync subject export``) is JSON only: JSON is never evaluated as a formula
by a spreadsheet, so it needs no neutralising; every CSV this package writes is neutralised.
"""
