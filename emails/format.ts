/** A date as the site's people read it: in the site's own time zone. */
export function formatSiteDate(at: Date, timeZone: string): string {
  return (
    new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone }).format(at) +
    ` (${timeZone})`
  );
}
