"""Stage: files in and out -- FASTA, PDB/mmCIF, prediction outputs, figures, notebook views, HTML report; never
imports torch."""
