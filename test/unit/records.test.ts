import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BNT_HOURLY_CROSSINGS,
  BNT_HOURLY_TRAFFIC,
  DATASETS,
  assertValidDefinition,
  pageOrder,
} from '../../src/pipeline/datasets';
import { type Checked, recordChecker } from '../../src/pipeline/records';

const window = { start: '2024-05-26', stop: '2024-06-02' };
const checkTraffic = recordChecker(BNT_HOURLY_TRAFFIC, window);
const valid = {
  plaza_id: '21',
  date: '2024-05-30T00:00:00.000',
  hour: '0',
  direction: 'I',
  vehicles_e_zpass: '2021',
  vehicles_vtoll: '413',
};

function rejection(checked: Checked) {
  assert.ok('rejection' in checked, `expected a rejection, got ${JSON.stringify(checked)}`);
  return checked.rejection;
}

describe('traffic records', () => {
  test('a valid record becomes a typed row in the original table shape', () => {
    const checked = checkTraffic(valid);
    assert.ok('row' in checked);
    assert.deepEqual(checked.row, {
      plaza_id: '21',
      date: '2024-05-30',
      hour: '0',
      direction: 'I',
      vehicles_e_zpass: 2021,
      vehicles_vtoll: 413,
    });
  });

  test('a missing nullable field loads as NULL', () => {
    const { vehicles_vtoll: _left_out, ...record } = valid;
    const checked = checkTraffic(record);
    assert.ok('row' in checked);
    assert.equal(checked.row.vehicles_vtoll, null);
  });

  const rules: [string, Record<string, unknown>, string, string][] = [
    ['missing key field', { ...valid, plaza_id: undefined }, 'missing_field', 'plaza_id'],
    ['hour above 23', { ...valid, hour: '24' }, 'out_of_range', 'hour'],
    ['negative hour', { ...valid, hour: '-1' }, 'out_of_range', 'hour'],
    ['direction not I/O', { ...valid, direction: 'N' }, 'not_allowed', 'direction'],
    ['fractional count', { ...valid, vehicles_e_zpass: '12.5' }, 'not_an_integer', 'vehicles_e_zpass'],
    ['negative count', { ...valid, vehicles_vtoll: '-3' }, 'out_of_range', 'vehicles_vtoll'],
    ['count that is not a number', { ...valid, vehicles_vtoll: 'many' }, 'not_an_integer', 'vehicles_vtoll'],
    ['unparseable date', { ...valid, date: 'May 30, 2024' }, 'not_a_date', 'date'],
    ['date that is not on the calendar', { ...valid, date: '2024-02-30T00:00:00.000' }, 'not_a_date', 'date'],
    ['date with a time of day', { ...valid, date: '2024-05-30T13:00:00.000' }, 'not_a_date', 'date'],
    ['date before the window', { ...valid, date: '2024-05-25T00:00:00.000' }, 'outside_window', 'date'],
    [
      'date on the stop day (half-open window)',
      { ...valid, date: '2024-06-02T00:00:00.000' },
      'outside_window',
      'date',
    ],
    ['empty plaza id', { ...valid, plaza_id: ' ' }, 'empty_text', 'plaza_id'],
    ['count sent as a JSON object', { ...valid, vehicles_vtoll: { value: 3 } }, 'wrong_type', 'vehicles_vtoll'],
    ['lone UTF-16 surrogate in a text value', { ...valid, plaza_id: '2\ud8001' }, 'malformed_text', 'plaza_id'],
    ['lone low surrogate', { ...valid, plaza_id: '\udc00' }, 'malformed_text', 'plaza_id'],
  ];
  for (const [name, record, reason, field] of rules) {
    test(`quarantines a record with a ${name} as ${reason}`, () => {
      const found = rejection(checkTraffic(record));
      assert.equal(found.reason, reason);
      assert.equal(found.field, field);
      assert.match(found.message, new RegExp(field));
    });
  }

  test('outside_window names the requested window; a record inside it carries its position', () => {
    const found = rejection(checkTraffic({ ...valid, date: '2024-06-02T00:00:00.000' }));
    assert.match(found.message, /date 2024-06-02 is outside the requested window \[2024-05-26, 2024-06-02\)/);
    assert.equal(checkTraffic({ ...valid, date: '2024-06-02T00:00:00.000' }).position, undefined);
    const broken = checkTraffic({ ...valid, vehicles_vtoll: '-3' });
    assert.ok('rejection' in broken);
    assert.equal(broken.position, '2024-05-30', 'a record refused for another field is still placed by its date');
  });

  test('text with characters outside the BMP, or escaped controls, is well formed and staged', () => {
    const checked = checkTraffic({ ...valid, plaza_id: '21 \u{1F600} \u0001' });
    assert.ok('row' in checked);
  });

  test('a count that fits no 32-bit integer column is out of range, whatever the definition allows', () => {
    const unbounded = {
      ...BNT_HOURLY_TRAFFIC,
      fields: BNT_HOURLY_TRAFFIC.fields.map((field) =>
        field.name === 'vehicles_vtoll' ? { name: field.name, type: field.type } : field,
      ),
    };
    const check = recordChecker(unbounded, window);
    for (const raw of ['2147483648', '-2147483649', '99999999999999999999999']) {
      const found = rejection(check({ ...valid, vehicles_vtoll: raw }));
      assert.equal(found.reason, 'out_of_range', raw);
      assert.match(found.message, /does not fit a 32-bit integer column/);
    }
    assert.ok('row' in check({ ...valid, vehicles_vtoll: '-2147483648' }));
  });

  test('the first and last day of the window are inside it', () => {
    assert.ok('row' in checkTraffic({ ...valid, date: '2024-05-26T00:00:00.000' }));
    assert.ok('row' in checkTraffic({ ...valid, date: '2024-06-01T00:00:00.000' }));
  });

  test('integers written as 7.0 are whole and kept in canonical form', () => {
    const checked = checkTraffic({ ...valid, hour: '7.0', vehicles_e_zpass: '12.00' });
    assert.ok('row' in checked);
    assert.equal(checked.row.hour, '7');
    assert.equal(checked.row.vehicles_e_zpass, 12);
  });

  test('records with the same key have the same key string, and others differ', () => {
    const a = checkTraffic(valid);
    const b = checkTraffic({ ...valid, vehicles_e_zpass: '1' });
    const c = checkTraffic({ ...valid, direction: 'O' });
    assert.ok('key' in a && 'key' in b && 'key' in c);
    assert.equal(a.key, b.key);
    assert.notEqual(a.key, c.key);
  });
});

describe('crossings records', () => {
  const check = recordChecker(BNT_HOURLY_CROSSINGS, window);
  const record = {
    transit_timestamp: '2024-05-30T13:00:00.000',
    date: '2024-05-30T00:00:00.000',
    hour: '13',
    facility_id: '21',
    facility: 'RFK Bronx',
    direction: 'Bronx bound',
    payment_method: 'E-ZPass',
    vehicle_class: '1',
    vehicle_class_description: 'Passenger',
    vehicle_class_category: 'Cars',
    traffic_count: '52',
  };

  test('types the timestamp without a zone and counts as integers', () => {
    const checked = check(record);
    assert.ok('row' in checked);
    assert.equal(checked.row.transit_timestamp, '2024-05-30T13:00:00');
    assert.equal(checked.row.hour, 13);
    assert.equal(checked.row.traffic_count, 52);
  });

  test('direction is checked for shape, not against a guessed list', () => {
    assert.ok('row' in check({ ...record, direction: 'Manhattan bound' }));
    assert.equal(rejection(check({ ...record, direction: '' })).reason, 'empty_text');
  });

  test('an invalid time of day is not a timestamp', () => {
    assert.equal(
      rejection(check({ ...record, transit_timestamp: '2024-05-30T25:00:00.000' })).reason,
      'not_a_timestamp',
    );
  });
});

describe('dataset definitions', () => {
  test('every built-in definition is valid', () => {
    for (const dataset of DATASETS) assertValidDefinition(dataset);
  });

  test('a definition with an unsafe table name is refused', () => {
    assert.throws(
      () => assertValidDefinition({ ...BNT_HOURLY_TRAFFIC, table: { schema: 'bronze; DROP TABLE x', name: 't' } }),
      /table identifier "bronze; DROP TABLE x"/,
    );
  });

  test('a definition with a capitalised field name (Socrata names are lower case) is refused', () => {
    const fields = BNT_HOURLY_TRAFFIC.fields.map((field) =>
      field.name === 'plaza_id' ? { ...field, name: 'Plaza_ID' } : field,
    );
    assert.throws(() => assertValidDefinition({ ...BNT_HOURLY_TRAFFIC, fields }), /field "Plaza_ID" must match/);
  });

  test('pages are ordered on the whole key, window field first, then the row id', () => {
    assert.deepEqual(pageOrder(BNT_HOURLY_TRAFFIC), ['date', 'plaza_id', 'hour', 'direction', ':id']);
    assert.deepEqual(pageOrder(BNT_HOURLY_CROSSINGS), [
      'transit_timestamp',
      'facility_id',
      'direction',
      'payment_method',
      'vehicle_class',
      ':id',
    ]);
  });
});
