"""The study loop: open or continue a study, train the FP32 baseline, drive trials to the budget on Ray, score them.

``run`` opens the study and hands it to ``driver.Driver``, whose loop joins the parts: the training pool
(``pool``), asking and admission (``asking``), the rungs of a multi-fidelity study (``rungs``), recording a
finished trial (``recording``) and the designs priced before training (``pricing``).
"""
