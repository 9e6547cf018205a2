"""One look for the app: Fusion style, a light and a dark palette following the OS, spacing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QTabWidget, QToolButton

SPACING = 8
MARGIN = 16


@dataclass(frozen=True)
class Theme:
    dark: bool
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    accent: str
    rail: str
    danger: str
    warning_bg: str
    warning_text: str
    grid_alpha: float
    # Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
    series: tuple[str, ...]


LIGHT = Theme(
    dark=False,
    window="#f6f7f9",
    base="#ffffff",
    alt_base="#f1f3f6",
    text="#1f2328",
    muted="#5b636e",
    accent="#2563eb",
    rail="#e9ecf1",
    danger="#b42318",
    warning_bg="#fef3c7",
    warning_text="#713f12",
    grid_alpha=0.25,
    series=("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7f7f7f"),
)
DARK = Theme(
    dark=True,
    window="#1e2126",
    base="#16181c",
    alt_base="#23262c",
    text="#e6e8eb",
    muted="#9aa3ad",
    accent="#5b9cff",
    rail="#181a1f",
    danger="#d9483b",
    warning_bg="#4a3a12",
    warning_text="#fde68a",
    grid_alpha=0.2,
    series=("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#bbbbbb"),
)


def styled_label(text: str, role: str) -> QLabel:
    """A label styled by the style sheet rule for `role` (PageTitle, Muted, FieldError...)."""
    label = QLabel(text)
    label.setObjectName(role)
    return label


def current_theme() -> Theme:
    """The dark theme when the OS says dark, else the light one."""
    scheme = QGuiApplication.styleHints().colorScheme()
    return DARK if scheme == Qt.ColorScheme.Dark else LIGHT


def apply_theme(app: QApplication, theme: Theme | None = None) -> Theme:
    """Set style, palette and style sheet on `app`; widgets repaint on the palette change."""
    theme = theme or current_theme()
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alt_base,
        QPalette.ColorRole.Button: theme.alt_base,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: theme.accent,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(theme.muted))
    palette.setColor(
        QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(theme.muted)
    )
    app.setPalette(palette)
    app.setStyleSheet(_style_sheet(theme))
    return theme


def _style_sheet(t: Theme) -> str:
    return f"""
    #NavRail {{ background: {t.rail}; }}
    #NavRail QToolButton {{
        border: none; border-radius: 6px; padding: 8px 12px; text-align: left;
        color: {t.text}; font-size: 10.5pt;
    }}
    #NavRail QToolButton:hover {{ background: {t.alt_base}; }}
    #NavRail QToolButton:checked {{ background: {t.accent}; color: #ffffff; }}
    #AppTitle {{ font-size: 13pt; font-weight: 600; padding: 4px 12px 12px 12px; }}
    #PageTitle {{ font-size: 16pt; font-weight: 600; }}
    #Muted {{ color: {t.muted}; }}
    #FieldError {{ color: {t.danger}; }}
    #Banner {{ background: {t.danger}; color: #ffffff; padding: 6px {MARGIN}px; }}
    #MessageBar {{ background: {t.warning_bg}; }}
    #MessageBar QLabel {{ color: {t.warning_text}; }}
    #Placeholder {{ font-size: 12pt; color: {t.muted}; }}
    """


def tab_tooltips(tabs: QTabWidget, tips: Sequence[str]) -> None:
    """A tooltip per tab, and for the tab bar's own scroll arrows."""
    for index, tip in enumerate(tips):
        tabs.setTabToolTip(index, tip)
    for button in tabs.tabBar().findChildren(QToolButton):
        button.setToolTip("Scroll the tabs")
