"""Training data: the catalog, one converter per source, the starter corpus, the dataset build.

- catalog (the model), catalog_load (YAML -> validated catalog), selection (data root, sources of
  a build), licences (licence classes, commercial use);
- converters/ (one module per dataset; shared helpers in converters/_common.py), starter/ (data);
- build (the pipeline): source_load, sampling, dedup, splits, pairs, augment, build_info;
  build_io (a build on disk: save and read back), stats (counts and their table);
- cues (surface cues of a text; the one definition of "is an emoji").
"""
