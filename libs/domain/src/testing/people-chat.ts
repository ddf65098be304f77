// A long chat between people over several sessions (trip planning and a small billing fix), with
// names, places, dates, times, amounts and identifiers planted in ordinary sentences.
import type { StoredMessage } from '../types';

const sessions: [StoredMessage['role'], string][][] = [
  [
    ['user', 'Hi! I am planning the offsite for our team at Acme Corp and need help keeping track of everything.'],
    ['assistant', 'Happy to help. Who is coming, and where are you thinking of going?'],
    ['user', 'So far it is me, Maria Lopez and Tom Becker. We are thinking about Lisbon or Porto.'],
    ['assistant', 'Both are great in spring. Do you have dates in mind?'],
    ['user', 'We decided on Lisbon because the flights from Berlin are cheaper. The dates are 14 March 2026 to 17 March 2026.'],
    ['assistant', 'Noted. Lisbon from 14 March 2026 to 17 March 2026. Do you need a venue?'],
  ],
  [
    ['user', 'Back again. Maria found a venue: Casa do Rio, and the deposit is €1,200.'],
    ['assistant', 'Great. Should I note the deposit deadline as well?'],
    ['user', 'Yes, the deposit is due on 2026-02-20 and the booking reference is CDR-88412.'],
    ['assistant', 'Recorded: booking reference CDR-88412, deposit of €1,200 due 2026-02-20.'],
    ['user', 'Tom says the kickoff call is on Friday, March 6 at 2:30 pm with Priya Natarajan from the Lisbon office.'],
    ['assistant', 'Okay. I will remind you about the kickoff call with Priya Natarajan.'],
  ],
  [
    ['user', 'Different topic: the billing export is failing. The job id is 7f3a9c2e41 and it crashed at 03:15 UTC.'],
    ['assistant', 'Can you share the logs or the config?'],
    ['user', 'The config sets batch_size=500 and the worker has 3.5 GB of memory. The file is config/export.yaml.'],
    ['assistant', 'The export reads all 48,000 rows at once, so 3.5 GB is not enough. Ticket #4471 tracks it.'],
    ['user', 'We agreed to split the export into chunks of 5000 rows because memory is capped. Please email maria.lopez@acme-corp.com when it is done.'],
    ['assistant', 'Will do. I will also update exportRows() in src/billing/export.ts.'],
  ],
  [
    ['user', 'Last thing for today: dinner on 15 March is at Cervejaria Ramiro at 20:00 for 9 people.'],
    ['assistant', 'Booked in the notes: Cervejaria Ramiro, 15 March, 20:00, 9 people.'],
    ['user', 'The total budget is $18,500 and finance approved it under PO-2026-117.'],
    ['assistant', 'Understood. Anything still open?'],
    ['user', 'We still need to decide who presents the roadmap. TODO: ask Tom about the slides.'],
    ['assistant', 'I will keep that as an open item.'],
  ],
];

/** The whole chat, seq 1.., one message per line above. */
export function peopleChat(): StoredMessage[] {
  let seq = 0;
  return sessions.flat().map(([role, content]) => ({ seq: ++seq, role, content, tokens: Math.ceil(content.length / 4), kind: 'message' as const }));
}

/** Facts a careful reader must keep, with the kind they are expected to be extracted as. */
export const PLANTED_FACTS: { value: string; kind: string }[] = [
  { value: 'Acme Corp', kind: 'name' },
  { value: 'Maria Lopez', kind: 'name' },
  { value: 'Tom Becker', kind: 'name' },
  { value: 'Lisbon', kind: 'name' },
  { value: 'Porto', kind: 'name' },
  { value: 'Berlin', kind: 'name' },
  { value: '14 March 2026', kind: 'date' },
  { value: '17 March 2026', kind: 'date' },
  { value: 'Casa do Rio', kind: 'name' },
  { value: '€1,200', kind: 'number' },
  { value: '2026-02-20', kind: 'date' },
  { value: 'CDR-88412', kind: 'identifier' },
  { value: 'Friday, March 6', kind: 'date' },
  { value: '2:30 pm', kind: 'time' },
  { value: 'Priya Natarajan', kind: 'name' },
  { value: '7f3a9c2e41', kind: 'identifier' },
  { value: '03:15 UTC', kind: 'time' },
  { value: 'batch_size=500', kind: 'key_value' },
  { value: '3.5 GB', kind: 'number' },
  { value: 'config/export.yaml', kind: 'path' },
  { value: '48,000 rows', kind: 'number' },
  { value: '#4471', kind: 'identifier' },
  { value: '5000 rows', kind: 'number' },
  { value: 'maria.lopez@acme-corp.com', kind: 'email' },
  { value: 'exportRows()', kind: 'code' },
  { value: 'src/billing/export.ts', kind: 'path' },
  { value: '15 March', kind: 'date' },
  { value: 'Cervejaria Ramiro', kind: 'name' },
  { value: '20:00', kind: 'time' },
  { value: '9 people', kind: 'number' },
  { value: '$18,500', kind: 'number' },
  { value: 'PO-2026-117', kind: 'identifier' },
];
