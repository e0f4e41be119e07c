"""Stage: files in and out -- FASTA, PDB/mmCIF, prediction outputs, figures, notebook views; never
imports torch."""
