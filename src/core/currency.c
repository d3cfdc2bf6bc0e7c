/*
 * currency.c - the active ISO 4217 currencies (list one, as amended through
 * 2024: ZWG replaced ZWL, XCG added beside ANG, SLE and VED present; CUC, HRK,
 * SLL and ZWL withdrawn) with their numeric codes and minor-unit exponents.
 *
 * Left out on purpose: codes without a minor unit, which cannot be charged
 * (precious metals XAU XAG XPT XPD, bond units XBA-XBD, XDR, XSU, XUA, the
 * testing code XTS and "no currency" XXX). Fund codes that have a minor unit
 * (BOV CHE CHW CLF COU MXV USN UYI UYW) stay.
 *
 * Invariants: codes are lower case (as Stripe writes them), the table is
 * sorted by code and has no duplicates (a unit test checks both), so lookup
 * is a binary search. Threading: read-only data.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static const struct pay_currency currencies[] = {
    {"aed", 784, 2}, {"afn", 971, 2}, {"all", 8, 2},   {"amd", 51, 2},  {"ang", 532, 2},
    {"aoa", 973, 2}, {"ars", 32, 2},  {"aud", 36, 2},  {"awg", 533, 2}, {"azn", 944, 2},
    {"bam", 977, 2}, {"bbd", 52, 2},  {"bdt", 50, 2},  {"bgn", 975, 2}, {"bhd", 48, 3},
    {"bif", 108, 0}, {"bmd", 60, 2},  {"bnd", 96, 2},  {"bob", 68, 2},  {"bov", 984, 2},
    {"brl", 986, 2}, {"bsd", 44, 2},  {"btn", 64, 2},  {"bwp", 72, 2},  {"byn", 933, 2},
    {"bzd", 84, 2},  {"cad", 124, 2}, {"cdf", 976, 2}, {"che", 947, 2}, {"chf", 756, 2},
    {"chw", 948, 2}, {"clf", 990, 4}, {"clp", 152, 0}, {"cny", 156, 2}, {"cop", 170, 2},
    {"cou", 970, 2}, {"crc", 188, 2}, {"cup", 192, 2}, {"cve", 132, 2}, {"czk", 203, 2},
    {"djf", 262, 0}, {"dkk", 208, 2}, {"dop", 214, 2}, {"dzd", 12, 2},  {"egp", 818, 2},
    {"ern", 232, 2}, {"etb", 230, 2}, {"eur", 978, 2}, {"fjd", 242, 2}, {"fkp", 238, 2},
    {"gbp", 826, 2}, {"gel", 981, 2}, {"ghs", 936, 2}, {"gip", 292, 2}, {"gmd", 270, 2},
    {"gnf", 324, 0}, {"gtq", 320, 2}, {"gyd", 328, 2}, {"hkd", 344, 2}, {"hnl", 340, 2},
    {"htg", 332, 2}, {"huf", 348, 2}, {"idr", 360, 2}, {"ils", 376, 2}, {"inr", 356, 2},
    {"iqd", 368, 3}, {"irr", 364, 2}, {"isk", 352, 0}, {"jmd", 388, 2}, {"jod", 400, 3},
    {"jpy", 392, 0}, {"kes", 404, 2}, {"kgs", 417, 2}, {"khr", 116, 2}, {"kmf", 174, 0},
    {"kpw", 408, 2}, {"krw", 410, 0}, {"kwd", 414, 3}, {"kyd", 136, 2}, {"kzt", 398, 2},
    {"lak", 418, 2}, {"lbp", 422, 2}, {"lkr", 144, 2}, {"lrd", 430, 2}, {"lsl", 426, 2},
    {"lyd", 434, 3}, {"mad", 504, 2}, {"mdl", 498, 2}, {"mga", 969, 2}, {"mkd", 807, 2},
    {"mmk", 104, 2}, {"mnt", 496, 2}, {"mop", 446, 2}, {"mru", 929, 2}, {"mur", 480, 2},
    {"mvr", 462, 2}, {"mwk", 454, 2}, {"mxn", 484, 2}, {"mxv", 979, 2}, {"myr", 458, 2},
    {"mzn", 943, 2}, {"nad", 516, 2}, {"ngn", 566, 2}, {"nio", 558, 2}, {"nok", 578, 2},
    {"npr", 524, 2}, {"nzd", 554, 2}, {"omr", 512, 3}, {"pab", 590, 2}, {"pen", 604, 2},
    {"pgk", 598, 2}, {"php", 608, 2}, {"pkr", 586, 2}, {"pln", 985, 2}, {"pyg", 600, 0},
    {"qar", 634, 2}, {"ron", 946, 2}, {"rsd", 941, 2}, {"rub", 643, 2}, {"rwf", 646, 0},
    {"sar", 682, 2}, {"sbd", 90, 2},  {"scr", 690, 2}, {"sdg", 938, 2}, {"sek", 752, 2},
    {"sgd", 702, 2}, {"shp", 654, 2}, {"sle", 925, 2}, {"sos", 706, 2}, {"srd", 968, 2},
    {"ssp", 728, 2}, {"stn", 930, 2}, {"svc", 222, 2}, {"syp", 760, 2}, {"szl", 748, 2},
    {"thb", 764, 2}, {"tjs", 972, 2}, {"tmt", 934, 2}, {"tnd", 788, 3}, {"top", 776, 2},
    {"try", 949, 2}, {"ttd", 780, 2}, {"twd", 901, 2}, {"tzs", 834, 2}, {"uah", 980, 2},
    {"ugx", 800, 0}, {"usd", 840, 2}, {"usn", 997, 2}, {"uyi", 940, 0}, {"uyu", 858, 2},
    {"uyw", 927, 4}, {"uzs", 860, 2}, {"ved", 926, 2}, {"ves", 928, 2}, {"vnd", 704, 0},
    {"vuv", 548, 0}, {"wst", 882, 2}, {"xaf", 950, 0}, {"xcd", 951, 2}, {"xcg", 532, 2},
    {"xof", 952, 0}, {"xpf", 953, 0}, {"yer", 886, 2}, {"zar", 710, 2}, {"zmw", 967, 2},
    {"zwg", 924, 2},
};

#define N_CURRENCIES (sizeof(currencies) / sizeof(currencies[0]))

static int currency_cmp(const void *key, const void *elem)
{
    const struct pay_currency *c = elem;
    return strcmp(key, c->code);
}

const struct pay_currency *pay_currency_find(const char *code)
{
    if (!code) {
        return NULL;
    }
    char lower[4];
    for (size_t i = 0; i < 3; i++) {
        char ch = code[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        }
        if (ch < 'a' || ch > 'z') {
            return NULL; /* also stops at a NUL before the third letter */
        }
        lower[i] = ch;
    }
    if (code[3] != '\0') {
        return NULL;
    }
    lower[3] = '\0';
    return bsearch(lower, currencies, N_CURRENCIES, sizeof(currencies[0]), currency_cmp);
}

const struct pay_currency *pay_currency_table(size_t *n_out)
{
    if (n_out) {
        *n_out = N_CURRENCIES;
    }
    return currencies;
}
