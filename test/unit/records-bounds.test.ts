import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BNT_HOURLY_CROSSINGS,
  BNT_HOURLY_TRAFFIC,
  DEFAULT_MAX_TEXT_LENGTH,
  type DatasetDefinition,
  assertValidDefinition,
} from '../../src/pipeline/datasets';
import {
  type Checked,
  QUARANTINE_EXCERPT_LENGTH,
  excerpt,
  quarantineEntry,
  recordChecker,
} from '../../src/pipeline/records';

const window = { start: '2024-05-26', stop: '2024-06-02' };
const valid = {
  plaza_id: '21',
  date: '2024-05-30T00:00:00.000',
  hour: '0',
  direction: 'I',
  vehicles_e_zpass: '2021',
  vehicles_vtoll: '413',
};

function rejection(checked: Checked) {
  assert.ok('rejection' in checked, `expected a rejection, got ${JSON.stringify(checked).slice(0, 200)}`);
  return checked.rejection;
}

describe('bounded text values', () => {
  const checkTraffic = recordChecker(BNT_HOURLY_TRAFFIC, window);

  test('the default bound is about 4 KB', () => {
    assert.equal(DEFAULT_MAX_TEXT_LENGTH, 4096);
  });

  test('a text value at the bound is staged', () => {
    const checked = checkTraffic({ ...valid, plaza_id: 'x'.repeat(DEFAULT_MAX_TEXT_LENGTH) });
    assert.ok('row' in checked);
  });

  test('a text value one character over the bound is quarantined as too_long, with both lengths', () => {
    const found = rejection(checkTraffic({ ...valid, plaza_id: 'x'.repeat(DEFAULT_MAX_TEXT_LENGTH + 1) }));
    assert.equal(found.reason, 'too_long');
    assert.equal(found.field, 'plaza_id');
    assert.equal(found.message, 'plaza_id has 4097 characters, more than the 4096 allowed');
  });

  test('length is checked before any other rule, so the message never holds the value', () => {
    // Blank, not in the allowed list, not a number: any other rule would fire (and quote the value) first.
    const cases: [string, string][] = [
      ['plaza_id', ' '.repeat(5000)],
      ['direction', 'N'.repeat(5000)],
      ['hour', '9'.repeat(5000)],
      ['date', '2'.repeat(5000)],
    ];
    for (const [field, value] of cases) {
      const found = rejection(checkTraffic({ ...valid, [field]: value }));
      assert.equal(found.reason, 'too_long', field);
      assert.equal(found.field, field);
      assert.ok(found.message.length < 100, found.message);
    }
  });

  test('a field can set its own bound', () => {
    const narrow: DatasetDefinition = {
      ...BNT_HOURLY_CROSSINGS,
      fields: BNT_HOURLY_CROSSINGS.fields.map((field) =>
        field.name === 'facility' ? { ...field, maxLength: 10 } : field,
      ),
    };
    const check = recordChecker(narrow, window);
    const record = {
      transit_timestamp: '2024-05-30T10:00:00.000',
      date: '2024-05-30T00:00:00.000',
      hour: '10',
      facility_id: '1',
      facility: 'Bronx-Whitestone Bridge',
      direction: 'Inbound',
      payment_method: 'E-ZPass',
      vehicle_class: '1',
      vehicle_class_description: 'Cars',
      vehicle_class_category: 'Cars',
      traffic_count: '5',
    };
    assert.equal(rejection(check(record)).reason, 'too_long');
    assert.ok('row' in check({ ...record, facility: 'Short' }));
  });

  test('a bound that is not a whole number above 0 makes the definition invalid', () => {
    for (const maxLength of [0, -1, 2.5]) {
      const broken: DatasetDefinition = {
        ...BNT_HOURLY_TRAFFIC,
        fields: BNT_HOURLY_TRAFFIC.fields.map((field) => (field.name === 'plaza_id' ? { ...field, maxLength } : field)),
      };
      assert.throws(
        () => assertValidDefinition(broken),
        /field "plaza_id" maxLength .* must be a whole number above 0/,
      );
    }
  });
});

describe('quarantine entries', () => {
  test('a small record goes to the quarantine file exactly as received', () => {
    const record = { ...valid, direction: 'N' };
    const entry = quarantineEntry(
      BNT_HOURLY_TRAFFIC,
      { reason: 'not_allowed', field: 'direction', message: 'm' },
      record,
    );
    assert.deepEqual(entry, { reason: 'not_allowed', field: 'direction', message: 'm', record });
  });

  test('a huge value is cut to its first 200 characters and its length', () => {
    const huge = 'A'.repeat(1_000_000);
    const record = { ...valid, plaza_id: huge };
    const found = rejection(recordChecker(BNT_HOURLY_TRAFFIC, window)(record));
    const entry = quarantineEntry(BNT_HOURLY_TRAFFIC, found, record);
    assert.equal(entry.reason, 'too_long');
    assert.equal(entry.record.plaza_id, `${'A'.repeat(QUARANTINE_EXCERPT_LENGTH)}…(1000000 characters)`);
    assert.equal(entry.record.direction, 'I', 'the other fields are kept');
    assert.ok(JSON.stringify(entry).length < 1000);
    assert.equal(record.plaza_id.length, 1_000_000, 'the record itself is not changed');
  });

  test('fields outside the definition and nested values are bounded too', () => {
    const record = { ...valid, ':id': 'row-1', extra: 'b'.repeat(10_000), nested: { deep: ['c'.repeat(10_000)] } };
    const entry = quarantineEntry(BNT_HOURLY_TRAFFIC, { reason: 'wrong_type', field: 'x', message: 'm' }, record);
    assert.equal(entry.record[':id'], 'row-1');
    assert.equal(entry.record.extra, excerpt('b'.repeat(10_000)));
    assert.match(String(entry.record.nested), /^\{"deep":\["c+…\(\d+ characters\)$/);
    assert.ok(JSON.stringify(entry).length < 1000);
  });
});
