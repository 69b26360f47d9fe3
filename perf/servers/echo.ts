// The baseline of the API benchmark: bare Express, parsing a JSON body and sending it back.
import express from 'express';

const app = express();
app.post('/echo', express.json(), (req, res) => void res.status(201).json(req.body));
app.listen(Number(process.env.PORT), '127.0.0.1');
