// The English messages: the reference catalog. Every other locale has exactly these keys
// (test/plugin/i18n.test.ts), and a key missing at run time falls back to the text here.
// {name} is a placeholder filled by t(key, { name }); numbers passed as params follow the locale.
export const en = {
  'common.close': 'Close',

  'support.title': 'Support {appName}',
  'support.title_supporter': 'Thank you for supporting {appName}!',
  'support.subtitle': '{appName} is free and respects your privacy. If it saves you time, you can help keep it going.',
  'support.subtitle_supporter': 'Your support keeps {appName} independent and privacy-first. Sharing it with a friend helps just as much.',
  'support.cta': 'Support',
  'support.cta_supporter': 'Share & support',
  'support.badge': 'Supporter',
  'support.footnote':
    'Support links open the project’s pages in a new tab; payments are handled there and never pass through this app. Nothing here is sent anywhere unless you click.',
  'support.offline': 'You are offline. The support links need an internet connection and will work again once you are back online.',
  'support.share_text': '{appName} — a privacy-first app I use. Have a look:',
  'support.tiers_label': 'Ways to support',
  'support.get_license': 'Get a license',
  'support.share': 'Share',
  'support.share_app': 'Share {appName}',
  'support.stat.hours_tracked': 'Hours tracked',
  'support.stat.entries': 'Entries',
  'support.stat.reports_generated': 'Reports generated',
  'support.stats_item': '{value} {label}',
  'support.card_title': 'Enjoying {appName}?',
  'support.card_title_supporter': 'Thanks for supporting {appName}',
  'support.settings_title': 'Support & Community',
  'support.settings_intro': '{appName} is free and built in the open. If it is useful to you, you can support its development or share it with others.',
  'support.settings_intro_supporter': 'Thank you for supporting {appName}. Telling others about it helps just as much.',
  'support.settings_stats': 'Your {appName} so far: {statsLine}',
  'support.settings_reminders':
    'Support reminders appear at most once per session and never for supporters; they pause for 30 days after you follow a support link and for 14 days when you choose “Not now”.',
  'support.not_now': 'Not now',
  'support.link_copied': 'Link copied to the clipboard — thanks for sharing!',
  'support.share_failed': 'Sharing did not work in this browser. You can copy this link instead: {url}',

  'prompt.after_report': 'Your report is ready. If {appName} saves you time, consider supporting its development.',
  'prompt.seven_day': 'You have been using {appName} for a week now — thank you! If it helps you, consider supporting it.',
  'prompt.active_today': '{hours} hours tracked today — a productive day! If {appName} helps, consider supporting it.',
  'prompt.long_session': 'You have been working for a while — maybe time for a short break? If {appName} helps, consider supporting it.',
} as const;

export type MessageKey = keyof typeof en;
