"""Syntax trees and generated code: trees built from templates, written once as text, fresh names, and the tree queries every stage shares."""
