import { describe, expect, it } from 'vitest';
import { checkAgreement, type MemberView } from '../runtime/agreement.js';

const L = { id: 'n2', rank: 9, term: 3 };
const view = (id: string, leader = L, leading = id === L.id): MemberView => ({ id, leader, leading });

describe('the agreement check', () => {
  it('agrees when every live member names the same live leader, which alone says it leads', () => {
    expect(checkAgreement([view('n1'), view('n2'), view('n3')], ['n1', 'n2', 'n3'])).toEqual({ agreed: true, leader: L, members: ['n1', 'n2', 'n3'] });
  });

  it('says why not otherwise', () => {
    expect(checkAgreement([view('n1'), view('n2', { ...L, term: 2 })])).toMatchObject({ agreed: false, why: expect.stringContaining('term 2') });
    expect(checkAgreement([view('n1'), view('n3')])).toMatchObject({ agreed: false, why: expect.stringContaining('not among the live members') });
    expect(checkAgreement([view('n1'), view('n2', L, false)])).toMatchObject({ agreed: false, why: expect.stringContaining('does not say it leads') });
    expect(checkAgreement([view('n1', L, true), view('n2')])).toMatchObject({ agreed: false, why: expect.stringContaining('n1 says it leads') });
    expect(checkAgreement([view('n1'), view('n2')], ['n1', 'n2', 'n5'])).toMatchObject({ agreed: false, why: expect.stringContaining('3 members') });
    expect(checkAgreement([{ id: null, leader: L, leading: false }, view('n2')])).toMatchObject({ agreed: false });
    expect(checkAgreement([])).toMatchObject({ agreed: false });
  });
});
