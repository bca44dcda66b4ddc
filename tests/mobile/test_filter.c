/* tests/mobile/test_filter.c — the profanity filter in Russian, English and
 * Kazakh: case folding (Cyrillic too), punctuation, whole words, stems,
 * masking, invalid UTF-8. */
#include <criterion/criterion.h>

#include <string.h>

#include "filter/filter.h"

static ttb__filter *f;

static void setup(void)
{
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb__filter_create(NULL, 0, &f, &e), TTB_OK, "%s", e.msg);
  cr_assert(ttb__filter_size(f) > 50);
}

static void teardown(void) { ttb__filter_destroy(f); }

static int bad(const char *s) { return ttb__filter_check(f, s, NULL, 0); }

static void masked(const char *in, const char *want)
{
  char out[256];
  ttb__filter_check(f, in, out, sizeof out);
  cr_assert_str_eq(out, want, "mask of \"%s\"", in);
}

TestSuite(filter, .init = setup, .fini = teardown);

Test(filter, builtin_lists_are_ru_en_kk)
{
  cr_assert_eq(ttb__filter_builtin_count, 3);
  const char *langs[3] = {ttb__filter_builtin[0].lang, ttb__filter_builtin[1].lang,
                          ttb__filter_builtin[2].lang};
  cr_assert_str_eq(langs[0], "ru");
  cr_assert_str_eq(langs[1], "en");
  cr_assert_str_eq(langs[2], "kk");
}

Test(filter, english)
{
  cr_assert_eq(bad("hello world"), 0);
  cr_assert_eq(bad("what the fuck"), 1);
  cr_assert_eq(bad("FUCK!!!"), 1);
  cr_assert_eq(bad("Fucking hell"), 1, "stem fuck*");
  cr_assert_eq(bad("shit, bitch."), 2);
  cr_assert_eq(bad("f.u.c.k"), 1, "punctuation inside a word is stripped");
  /* Whole words only: no Scunthorpe problem. */
  cr_assert_eq(bad("classic assassin Scunthorpe cocktail dickens passage"), 0);
  cr_assert_eq(bad("you ass"), 1);
  masked("what the fuck, man", "what the ****, man");
  masked("F.U.C.K off", "*.*.*.* off");
}

Test(filter, russian)
{
  cr_assert_eq(bad("Привет всем!"), 0);
  cr_assert_eq(bad("ну ты и сука"), 1);
  cr_assert_eq(bad("СУКА"), 1, "Cyrillic capitals fold to lower case");
  cr_assert_eq(bad("Пиздец, ребята"), 1, "stem пизд*");
  cr_assert_eq(bad("ЁБАНЫЙ стыд"), 1, "ё folds to е");
  cr_assert_eq(bad("бля..."), 1);
  cr_assert_eq(bad("хуй"), 1);
  /* Look-alike words that are fine: */
  cr_assert_eq(bad("хлеб потребление страхуй застрахуй"), 0, "страхуй is not хуй");
  cr_assert_eq(bad("сукно сукин"), 0);
  cr_assert_eq(bad("оскорблять колебать"), 0);
  masked("ну ты и сука!", "ну ты и ****!");
  masked("Пиздец", "******");
}

Test(filter, kazakh)
{
  cr_assert_eq(bad("Сәлем, қалайсың?"), 0);
  cr_assert_eq(bad("қотақ"), 1);
  cr_assert_eq(bad("ҚОТАҚ"), 1, "Kazakh capitals Қ fold to қ");
  cr_assert_eq(bad("Қотағың"), 1, "stem қотағ*");
  cr_assert_eq(bad("сігейін"), 1);
  cr_assert_eq(bad("СІГЕЙІН!"), 1, "І folds to і");
  cr_assert_eq(bad("жалап"), 1);
  cr_assert_eq(bad("сіз бен біз"), 0);
  masked("ой, ақымақ", "ой, ******");
}

Test(filter, mixed_and_edge_cases)
{
  cr_assert_eq(bad(""), 0);
  cr_assert_eq(bad(NULL), 0);
  cr_assert_eq(ttb__filter_check(NULL, "fuck", NULL, 0), 0);
  cr_assert_eq(bad("fuck сука қотақ"), 3);
  cr_assert_eq(bad("🔥fuck🔥"), 1, "emoji separate words");
  cr_assert_eq(bad("\xff\xfe fuck \xc3"), 1, "invalid UTF-8 is a separator");
  cr_assert_eq(bad("abcсука"), 0, "one unknown word");
  /* Masking truncates on a code point boundary and always terminates. */
  char small[6];
  ttb__filter_check(f, "привет", small, sizeof small);
  cr_assert_str_eq(small, "пр");
  /* Very long words are not matched and do not overflow anything. */
  char big[4000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  cr_assert_eq(bad(big), 0);
}

Test(filter, normalisation_table)
{
  cr_assert_eq(ttb__utf8_lower('A'), 'a');
  cr_assert_eq(ttb__utf8_lower(0x0410), 0x0430); /* А */
  cr_assert_eq(ttb__utf8_lower(0x042F), 0x044F); /* Я */
  cr_assert_eq(ttb__utf8_lower(0x0401), 0x0451); /* Ё */
  cr_assert_eq(ttb__utf8_lower(0x0406), 0x0456); /* І */
  cr_assert_eq(ttb__utf8_lower(0x04D8), 0x04D9); /* Ә */
  cr_assert_eq(ttb__utf8_lower(0x0492), 0x0493); /* Ғ */
  cr_assert_eq(ttb__utf8_lower(0x049A), 0x049B); /* Қ */
  cr_assert_eq(ttb__utf8_lower(0x04A2), 0x04A3); /* Ң */
  cr_assert_eq(ttb__utf8_lower(0x04E8), 0x04E9); /* Ө */
  cr_assert_eq(ttb__utf8_lower(0x04B0), 0x04B1); /* Ұ */
  cr_assert_eq(ttb__utf8_lower(0x04AE), 0x04AF); /* Ү */
  cr_assert_eq(ttb__utf8_lower(0x04BA), 0x04BB); /* Һ */
  cr_assert_eq(ttb__utf8_lower(0x0435), 0x0435);
  char out[64];
  size_t n = ttb__filter_normalize("Ё-ЛКА!", strlen("Ё-ЛКА!"), out, sizeof out);
  cr_assert_str_eq(out, "елка");
  cr_assert_eq(n, strlen("елка"));
}

Test(filter, custom_lists)
{
  ttb__filter *g = NULL;
  ttb__filter_list l[] = {{"xx", "# comment\n  Foo  \nbar*\n\n"}};
  cr_assert_eq(ttb__filter_create(l, 1, &g, NULL), TTB_OK);
  cr_assert_eq(ttb__filter_size(g), 2);
  cr_assert_eq(ttb__filter_check(g, "FOO food barrel", NULL, 0), 2);
  ttb__filter_destroy(g);
}
