// Die deutschen Texte: dieselben Schlüssel wie en.ts (test/plugin/i18n.test.ts prüft das).
import type { MessageKey } from './en.js';

export const de: Record<MessageKey, string> = {
  'common.close': 'Schließen',

  'support.title': '{appName} unterstützen',
  'support.title_supporter': 'Danke, dass du {appName} unterstützt!',
  'support.subtitle': '{appName} ist kostenlos und respektiert deine Privatsphäre. Wenn es dir Zeit spart, kannst du helfen, es am Leben zu halten.',
  'support.subtitle_supporter': 'Deine Unterstützung hält {appName} unabhängig und datenschutzfreundlich. Es einer Freundin oder einem Freund zu empfehlen, hilft genauso.',
  'support.cta': 'Unterstützen',
  'support.cta_supporter': 'Teilen & unterstützen',
  'support.badge': 'Unterstützer',
  'support.footnote':
    'Die Links öffnen die Seiten des Projekts in einem neuen Tab; Zahlungen laufen dort und nie über diese App. Nichts von hier wird irgendwohin gesendet, solange du nicht klickst.',
  'support.offline': 'Du bist offline. Die Links brauchen eine Internetverbindung und funktionieren wieder, sobald du online bist.',
  'support.share_text': '{appName} – eine datenschutzfreundliche App, die ich nutze. Schau sie dir an:',
  'support.tiers_label': 'Möglichkeiten zu unterstützen',
  'support.get_license': 'Lizenz erwerben',
  'support.share': 'Teilen',
  'support.share_app': '{appName} teilen',
  'support.stat.hours_tracked': 'Erfasste Stunden',
  'support.stat.entries': 'Einträge',
  'support.stat.reports_generated': 'Erstellte Berichte',
  'support.stats_item': '{value} {label}',
  'support.card_title': 'Gefällt dir {appName}?',
  'support.card_title_supporter': 'Danke für deine Unterstützung von {appName}',
  'support.settings_title': 'Unterstützung & Community',
  'support.settings_intro': '{appName} ist kostenlos und wird offen entwickelt. Wenn es dir nützt, kannst du die Entwicklung unterstützen oder es anderen empfehlen.',
  'support.settings_intro_supporter': 'Danke, dass du {appName} unterstützt. Es anderen zu empfehlen, hilft genauso.',
  'support.settings_stats': 'Dein {appName} bisher: {statsLine}',
  'support.settings_reminders':
    'Hinweise zur Unterstützung erscheinen höchstens einmal pro Sitzung und nie für Unterstützer; sie pausieren 30 Tage, nachdem du einem Link gefolgt bist, und 14 Tage, wenn du „Nicht jetzt“ wählst.',
  'support.not_now': 'Nicht jetzt',
  'support.link_copied': 'Link in die Zwischenablage kopiert – danke fürs Teilen!',
  'support.share_failed': 'Teilen hat in diesem Browser nicht funktioniert. Du kannst stattdessen diesen Link kopieren: {url}',

  'prompt.after_report': 'Dein Bericht ist fertig. Wenn {appName} dir Zeit spart, unterstütze doch seine Entwicklung.',
  'prompt.seven_day': 'Du nutzt {appName} jetzt seit einer Woche – danke! Wenn es dir hilft, unterstütze es doch.',
  'prompt.active_today': 'Heute {hours} Stunden erfasst – ein produktiver Tag! Wenn {appName} dir hilft, unterstütze es doch.',
  'prompt.long_session': 'Du arbeitest schon eine Weile – vielleicht Zeit für eine kurze Pause? Wenn {appName} dir hilft, unterstütze es doch.',
};
