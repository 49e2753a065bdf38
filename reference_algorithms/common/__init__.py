"""Pieces every reference algorithm shares, so each baseline only says what its optimizer is."""
