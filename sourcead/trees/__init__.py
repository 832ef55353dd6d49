"""Syntax trees and generated lines: rendering, fresh names, and the tree queries every stage shares."""
