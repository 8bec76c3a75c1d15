/**
 * The relay machine's profile book (machines/relayProfiles.ts): every change is a new book, and
 * the books it came from still answer as they did (snapshots taken earlier never change).
 */
import { describe, expect, it } from 'vitest';
import { ProfileBook } from '../machines/relayProfiles.js';

describe('relay profile book', () => {
  it('keeps every earlier version as it was through joins, leaves and rejoins', () => {
    const versions: ProfileBook[] = [ProfileBook.empty];
    for (let join = 0; join < 300; join += 1) versions.push(versions.at(-1)!.with(`n${join}`, { host: `h${join}` }));
    const full = versions.at(-1)!;
    const withoutSome = full.without('n7').without('n150');
    const rejoined = withoutSome.with('n7', { host: 'again', meta: { zone: 'b' } });

    for (const [count, book] of versions.entries()) {
      expect(book.size).toBe(count);
      for (const join of [0, 7, 150, 299]) expect(book.get(`n${join}`)).toEqual(join < count ? { host: `h${join}` } : undefined);
    }
    expect(withoutSome.size).toBe(298);
    expect(withoutSome.get('n7')).toBeUndefined();
    expect(withoutSome.get('n150')).toBeUndefined();
    expect(withoutSome.get('n8')).toEqual({ host: 'h8' });
    expect(rejoined.get('n7')).toEqual({ host: 'again', meta: { zone: 'b' } });
    expect(rejoined.size).toBe(299);
    expect(full.get('n7')).toEqual({ host: 'h7' });
  });

  it('leaves a book unchanged when the id is not in it, and replaces a profile in place of adding one', () => {
    const book = ProfileBook.empty.with('n1', {});
    expect(book.without('n2')).toBe(book);
    const replaced = book.with('n1', { host: 'web' });
    expect(replaced.size).toBe(1);
    expect(book.get('n1')).toEqual({});
    expect(replaced.get('n1')).toEqual({ host: 'web' });
  });

  it('shows as a record of profiles by id (what the inspector and JSON see)', () => {
    const book = ProfileBook.empty.with('n1', {}).with('n2', { host: 'web-2' }).with('n3', { meta: { port: 80 } }).without('n1');
    expect(book.toJSON()).toEqual({ n2: { host: 'web-2' }, n3: { meta: { port: 80 } } });
    expect(JSON.parse(JSON.stringify({ profiles: book }))).toEqual({ profiles: { n2: { host: 'web-2' }, n3: { meta: { port: 80 } } } });
  });
});
