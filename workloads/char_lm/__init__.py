"""char_lm: byte-level language modelling of the World English Bible, and its variants.

Data
----
- Corpus: the World English Bible (2020 stable text, with Deuterocanon), SWORD module
  `engWEB2015eb`.
- Package: Debian `sword-text-web`, version 426.0-1 (bookworm); install with
  `apt-get install sword-text-web`. No dependencies.
- Files used: `/usr/share/sword/modules/texts/ztext/engWEB2015eb/{ot,nt}.{bzs,bzz}`
  (4.2 MB compressed; 29 MB of OSIS XML; 4.99 MB of plain UTF-8 prose after markup and
  footnotes are removed). `--data_dir` may hold a copy of these four files, directly or
  in `char_lm/` or `modules/texts/ztext/engWEB2015eb/` below it; when `--data_dir` is
  given, the package's folder is not read (missing files there are an error).
- Licence: public domain ("The World English Bible is in the Public Domain", Debian
  copyright file and the module's `DistributionLicense=Public Domain`); "World English
  Bible" is a trademark of eBible.org, and a changed text must not carry that name: the
  workload drops markup and footnotes but never edits the words.
- Splits: the byte stream cut contiguously 90% / 5% / 5% into train / validation / test;
  each split cut into non-overlapping 64-byte windows; eval_train, validation and test
  evaluate evenly spaced subsets of their windows.
"""
