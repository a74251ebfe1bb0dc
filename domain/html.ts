const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '"': '&quot;',
  '&': '&amp;',
  "'": '&#x27;',
  '<': '&lt;',
  '>': '&gt;',
};

/**
 * React's escaping of text and attribute values (react-dom/server's escapeTextForBrowser): how a text
 * stands in an email's HTML, whether React rendered it or a shape was filled with it (emails/shapes.ts).
 */
export const escapeHtml = (text: string) => text.replace(/["&'<>]/g, (c) => HTML_ESCAPES[c]!);
